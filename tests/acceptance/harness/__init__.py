"""The acceptance runner's parts: scenario headers, process control, running one scenario."""
