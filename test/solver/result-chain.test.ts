import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copy, image, local, marshal, merge, mkdir, mkfile, scratch, type State } from '../../llb/index.js';
import { loadDefinition } from '../../solver/index.js';
import { baseImage, resultChain } from '../../solver/result-chain.js';

/** The op kinds of a state's result chain, result first, and what baseImage keeps of it. */
function chainOf(state: State): { kinds: string[]; base: string[] } {
  const loaded = loadDefinition(marshal(state));
  const chain = resultChain(loaded.graph, loaded.target);
  const kind = (digest: string): string => {
    const op = loaded.graph.ops.get(digest)!.op.op;
    return op.case === 'source' ? op.value.identifier.split('://')[0]! : op.case!;
  };
  return {
    kinds: chain.map((o) => kind(o.digest)),
    base: baseImage(loaded.graph, chain).map((o) => kind(o.digest)),
  };
}

describe('resultChain', () => {
  it('follows exec root mounts and file op bases down to the image', () => {
    const state = image('example.com/app:1')
      .file(mkfile('/a', 0o644, 'a'))
      .run({ args: ['true'] })
      .root()
      .file(mkdir('/d', 0o755).mkfile('/d/b', 0o644, 'b'));
    assert.deepEqual(chainOf(state), {
      kinds: ['file', 'exec', 'file', 'docker-image'],
      base: ['docker-image'],
    });
  });

  it('does not follow a copy source, and stops at a context or a merge', () => {
    const context = local('context');
    const copied = image('example.com/app:1').file(copy(context, '/src', '/app'));
    assert.deepEqual(chainOf(copied), { kinds: ['file', 'docker-image'], base: ['docker-image'] });
    const onContext = context.file(mkfile('/x', 0o644, 'x'));
    assert.deepEqual(chainOf(onContext), { kinds: ['file', 'local'], base: [] });
    const merged = merge([image('example.com/a:1'), image('example.com/b:1')]).file(mkfile('/m', 0o644, ''));
    assert.deepEqual(chainOf(merged), { kinds: ['file', 'merge'], base: [] });
    assert.deepEqual(chainOf(scratch().file(mkfile('/s', 0o644, ''))), { kinds: ['file'], base: [] });
  });

  it('follows a writable mount other than the root to its own input', () => {
    const out = image('example.com/app:1')
      .run({ args: ['true'], mounts: [{ dest: '/out', source: image('example.com/tools:1') }] })
      .getMount('/out');
    assert.deepEqual(chainOf(out), { kinds: ['exec', 'docker-image'], base: ['docker-image'] });
  });
});
