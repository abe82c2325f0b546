"""The gRPC front end: `dapr.proto.runtime.v1.Dapr` on grpc.aio."""
