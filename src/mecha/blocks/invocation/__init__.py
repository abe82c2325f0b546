"""Service invocation: calling apps by id, through their runtimes."""
