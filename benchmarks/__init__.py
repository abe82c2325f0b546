"""Hand-run benchmarks of the Mecha runtime, each measured against a baseline in the same run."""
