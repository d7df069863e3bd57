// Canopy TypeScript SDK: the generated messages (from proto/ with buf and
// protoc-gen-es) and a thin REST client over the grpc-gateway routes.
export * from "./client.js";
export * from "./gen/canopy/v1/image_pb.js";
export * from "./gen/canopy/v1/ingest_pb.js";
export * from "./gen/canopy/v1/status_pb.js";
export * from "./gen/canopy/v1/work_pb.js";
