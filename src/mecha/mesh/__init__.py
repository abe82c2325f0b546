"""Runtime-to-runtime calls: Mecha's own HTTP/1.1 layer with keep-alive pools between peers."""
