import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescService,
  type MessageShape,
} from '@bufbuild/protobuf';
import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';

/**
 * The glue between the generated protobuf-es descriptors and grpc-js: a grpc-js service
 * definition whose serializers are protobuf-es codecs. Keys are the methods' local names
 * (`diskUsage`, `solve`, …), as protobuf-es names them.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<object, object>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}

function serializer<D extends DescMessage>(schema: D): (message: object) => Buffer {
  return (message) => {
    const bytes = toBinary(schema, message as MessageShape<D>);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(schema, bytes);
}

/** The full method path (`/moby.buildkit.v1.Control/Solve`) for a method of a service. */
export function methodPath(service: DescService, localName: string): string {
  const method = service.methods.find((m) => m.localName === localName);
  if (!method) throw new Error(`${service.typeName} has no method ${localName}`);
  return `/${service.typeName}/${method.name}`;
}
