"""Calls from the runtime into its app: HTTP or gRPC, with health probing."""
