"""The HTTP front end: Dapr's `/v1.0/...` routes on Mecha's own HTTP/1.1 layer."""
