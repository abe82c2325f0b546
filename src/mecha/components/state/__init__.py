"""State store components: one module per backend, each loaded only when a component uses it."""
