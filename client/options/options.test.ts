import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClientUsageError,
  metadataFileContent,
  parseAllowFlag,
  parseExportCacheFlags,
  parseImportCacheFlags,
  parseOutputFlag,
  parseSecretFlag,
  parseSshFlag,
} from '../index.js';

describe('--output parsing (buildctl rules)', () => {
  it('lower-cases keys, keeps values, and consumes dest for local', () => {
    assert.deepEqual(parseOutputFlag('type=local,DEST=out,Foo=Bar'), {
      type: 'local',
      attrs: { foo: 'Bar' },
      dest: 'out',
    });
  });
  it('passes image attrs through and rejects a dest for it', () => {
    assert.deepEqual(parseOutputFlag('type=image,name=r/x:1,push=true,"annotation.a=b,c"'), {
      type: 'image',
      attrs: { name: 'r/x:1', push: 'true', 'annotation.a': 'b,c' },
    });
    assert.throws(
      () => parseOutputFlag('type=image,dest=x'),
      /invalid output option: output: output x is not supported by image exporter/,
    );
  });
  it('tar/oci/docker go to a file, stdout when dest is - or absent, refusing a terminal', () => {
    assert.deepEqual(parseOutputFlag('type=tar,dest=o.tar'), { type: 'tar', attrs: {}, dest: 'o.tar' });
    assert.deepEqual(parseOutputFlag('type=oci,dest=-'), { type: 'oci', attrs: {} });
    assert.throws(
      () => parseOutputFlag('type=docker', { stdoutIsTTY: true }),
      /output file is required for docker exporter. refusing to write to console/,
    );
  });
  it('oci with tar=false needs a directory', () => {
    assert.deepEqual(parseOutputFlag('type=oci,tar=false,dest=dir'), {
      type: 'oci',
      attrs: { tar: 'false' },
      dest: 'dir',
    });
    assert.throws(
      () => parseOutputFlag('type=oci,tar=false'),
      /output directory is required for oci exporter/,
    );
    assert.throws(() => parseOutputFlag('type=local'), /output directory is required for local exporter/);
  });
  it('requires type, refuses output=, and reports CSV errors like Go', () => {
    assert.throws(() => parseOutputFlag('dest=x'), /--output requires type=<type>/);
    assert.throws(
      () => parseOutputFlag('type=local,output=x'),
      /output=x not supported for --output, you meant dest=x\?/,
    );
    assert.throws(() => parseOutputFlag('type=local,novalue'), /invalid value novalue/);
    assert.throws(() => parseOutputFlag('type=lo"cal'), /bare " in non-quoted-field/);
    const err = (() => {
      try {
        parseOutputFlag('x');
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof ClientUsageError);
    assert.equal(err.code, 'KILN_CLIENT_USAGE');
    assert.equal(err.kind, 'invalid-argument');
  });
});

describe('--export-cache / --import-cache parsing', () => {
  it('adds mode=min to exports without a mode and keeps explicit ones', () => {
    assert.deepEqual(parseExportCacheFlags(['type=registry,ref=r/c,MODE=max', 'type=local,dest=d']), [
      { type: 'registry', attrs: { ref: 'r/c', mode: 'max' } },
      { type: 'local', attrs: { dest: 'd', mode: 'min' } },
    ]);
  });
  it('turns the legacy bare ref into a registry entry and warns', () => {
    const warnings: string[] = [];
    assert.deepEqual(parseExportCacheFlags(['r/c:tag'], { warn: (w) => warnings.push(w) }), [
      { type: 'registry', attrs: { mode: 'min', ref: 'r/c:tag' } },
    ]);
    assert.deepEqual(parseImportCacheFlags(['r/c:tag'], { warn: (w) => warnings.push(w) }), [
      { type: 'registry', attrs: { ref: 'r/c:tag' } },
    ]);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /deprecated/);
  });
  it('fills gha url and token from the environment, or fails naming the variable', () => {
    assert.deepEqual(
      parseImportCacheFlags(['type=gha'], { env: { ACTIONS_CACHE_URL: 'u', ACTIONS_RUNTIME_TOKEN: 't' } }),
      [{ type: 'gha', attrs: { url: 'u', token: 't' } }],
    );
    assert.throws(
      () => parseExportCacheFlags(['type=gha,url=u']),
      /requires token parameter or \$ACTIONS_RUNTIME_TOKEN/,
    );
    assert.throws(() => parseImportCacheFlags(['ref=x,type=']), /--import-cache requires type=<type>/);
  });
});

describe('--secret, --ssh, --allow parsing', () => {
  it('reads src/source as a file and env= as a variable', () => {
    assert.deepEqual(parseSecretFlag('id=a,src=/f'), { id: 'a', source: { file: '/f' } });
    assert.deepEqual(parseSecretFlag('id=a,source=/f'), { id: 'a', source: { file: '/f' } });
    assert.deepEqual(parseSecretFlag('id=a,env=TOKEN'), { id: 'a', source: { env: 'TOKEN' } });
    assert.deepEqual(parseSecretFlag('id=a,type=env,src=TOKEN'), { id: 'a', source: { env: 'TOKEN' } });
  });
  it('defaults to the variable named like the id when set, else the file named like it', () => {
    assert.deepEqual(parseSecretFlag('id=TOKEN', { TOKEN: 'x' }), { id: 'TOKEN', source: { env: 'TOKEN' } });
    assert.deepEqual(parseSecretFlag('id=TOKEN', {}), { id: 'TOKEN', source: { file: 'TOKEN' } });
  });
  it('rejects unknown keys, types and a missing id', () => {
    assert.throws(() => parseSecretFlag('id=a,foo=b'), /unexpected key 'foo' in 'foo=b'/);
    assert.throws(() => parseSecretFlag('id=a,type=vault'), /unsupported secret type "vault"/);
    assert.throws(() => parseSecretFlag('src=/f'), /secret missing ID/);
    assert.throws(() => parseSecretFlag('id'), /invalid field 'id' must be a key=value pair/);
  });
  it('parses ssh ids and socket paths', () => {
    assert.deepEqual(parseSshFlag('default'), { id: 'default', paths: [] });
    assert.deepEqual(parseSshFlag('git=/run/a.sock,/run/b.sock'), {
      id: 'git',
      paths: ['/run/a.sock', '/run/b.sock'],
    });
    assert.deepEqual(parseSshFlag('x='), { id: 'x', paths: [] });
  });
  it('accepts the two v0.11.6 entitlements only', () => {
    assert.equal(parseAllowFlag('network.host'), 'network.host');
    assert.equal(parseAllowFlag('security.insecure'), 'security.insecure');
    assert.throws(() => parseAllowFlag('device'), /unknown entitlement device/);
  });
});

describe('--metadata-file content', () => {
  it('embeds base64 JSON objects, keeps other values as strings, sorts keys, indents like Go', () => {
    const descriptor = '{"mediaType":"a<b","digest":"sha256:1","size":1083,"big":12345678901234567890}';
    const content = metadataFileContent({
      'image.name': 'r/x:1',
      'containerimage.descriptor': Buffer.from(descriptor).toString('base64'),
      'containerimage.digest': 'sha256:1',
      'cache.manifest': '{"mediaType":"x"}',
      'empty.object': Buffer.from('{}').toString('base64'),
      'json.array': Buffer.from('[1]').toString('base64'),
    });
    assert.equal(
      content,
      [
        '{',
        '  "cache.manifest": "{\\"mediaType\\":\\"x\\"}",',
        '  "containerimage.descriptor": {',
        '    "mediaType": "a\\u003cb",',
        '    "digest": "sha256:1",',
        '    "size": 1083,',
        '    "big": 12345678901234567890',
        '  },',
        '  "containerimage.digest": "sha256:1",',
        '  "empty.object": "e30=",',
        '  "image.name": "r/x:1",',
        '  "json.array": "WzFd"',
        '}',
      ].join('\n'),
    );
  });
});
