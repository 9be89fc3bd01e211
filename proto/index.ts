// Hand-written glue over the generated codecs in proto/gen. Other folders import the
// generated modules directly (proto/gen/<package path>/<file>_pb.js) for schemas and types.
export { grpcServiceDefinition, methodPath } from './grpc-service.js';
