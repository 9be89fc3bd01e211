import { readFile } from 'node:fs/promises';
import { fromBinary } from '@bufbuild/protobuf';
import { sha256 } from '../../oci/index.js';
import { DefinitionSchema, OpMetadataSchema, OpSchema, type Op } from '../../proto/gen/pb/ops_pb.js';
import type { Command } from '../cli/command.js';
import { ClientUsageError } from '../errors.js';
import { goProtoJson } from '../format/go-proto-json.js';

async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function dotLabel(digest: string, op: Op): [string, string] {
  switch (op.op.case) {
    case 'source':
      return [op.op.value.identifier, 'ellipse'];
    case 'exec':
      return [op.op.value.meta?.args.join(' ') ?? '', 'box'];
    case 'build':
      return ['build', 'box3d'];
    case 'merge':
      return ['merge', 'invtriangle'];
    case 'diff':
      return ['diff', 'doublecircle'];
    case 'file':
      return [
        op.op.value.actions
          .map((a) => {
            const v = a.action;
            if (v.case === 'copy') return `copy{src=${v.value.src}, dest=${v.value.dest}}`;
            if (v.case === 'mkfile') return `mkfile{path=${v.value.path}}`;
            if (v.case === 'mkdir') return `mkdir{path=${v.value.path}}`;
            if (v.case === 'rm') return `rm{path=${v.value.path}}`;
            return '';
          })
          .join(','),
        'note',
      ];
    default:
      return [digest, 'plaintext'];
  }
}

/** `kilnctl debug dump-llb [--dot] [file|-]`: decodes a Definition offline, one JSON op per line. */
export const debugDumpLlbCommand: Command = {
  name: 'dump-llb',
  usage:
    'dump LLB in human-readable format. LLB can be also passed via stdin. This command does not require the daemon to be running.',
  argsUsage: '<llbfile>',
  flags: [{ name: 'dot', kind: 'bool', usage: 'Output dot format' }],
  async run(ctx) {
    const file = ctx.flags.args[0];
    const bytes = file && file !== '-' ? await readFile(file) : await readAll(ctx.stdin);
    let definition;
    try {
      definition = fromBinary(DefinitionSchema, bytes);
    } catch (err) {
      throw new ClientUsageError({ message: `failed to parse input: ${(err as Error).message}`, cause: err });
    }
    // Decoded with the codecs directly, not llb/'s validating decoder: like buildctl, this prints
    // any definition (duplicates, unknown caps, a lone op), which is what one debugs with it.
    const ops = definition.def.map((raw) => {
      const digest = sha256(raw);
      return { digest, op: fromBinary(OpSchema, raw), md: definition.metadata[digest] };
    });
    if (ctx.flags.bool('dot')) {
      let out = 'digraph {\n';
      for (const { digest, op } of ops) {
        const [name, shape] = dotLabel(digest, op);
        out += `  ${JSON.stringify(digest)} [label=${JSON.stringify(name)} shape=${JSON.stringify(shape)}];\n`;
      }
      for (const { digest, op } of ops) {
        op.inputs.forEach((input, i) => {
          let label = '';
          if (op.op.case === 'exec') {
            for (const m of op.op.value.mounts) if (Number(m.input) === i && m.dest !== '/') label = m.dest;
          }
          out += `  ${JSON.stringify(input.digest)} -> ${JSON.stringify(digest)} [label=${JSON.stringify(label)}];\n`;
        });
      }
      ctx.stdout.write(out + '}\n');
      return;
    }
    for (const { digest, op, md } of ops) {
      const opJson = goProtoJson(OpSchema, op);
      const mdJson = md ? goProtoJson(OpMetadataSchema, md) : '{}';
      ctx.stdout.write(`{"Op":${opJson},"Digest":"${digest}","OpMetadata":${mdJson}}\n`);
    }
  },
};
