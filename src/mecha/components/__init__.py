"""Concrete components, one module per backend under a package per building block."""
