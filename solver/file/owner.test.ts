import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidFileActionError, UnknownOwnerError, resolveOwner } from './index.js';
import { ownerOf } from './test-support.js';

const db = {
  passwd:
    'root:x:0:0:root:/root:/bin/sh\n\nalice:x:1001:1002:Alice:/home/alice:/bin/sh\nbob:x:1003:1004::/home/bob:/bin/sh\n',
  group: 'root:x:0:\nstaff:x:2000:alice\n',
};
const lookup = async (input: number) => {
  assert.equal(input, 0);
  return db;
};

describe('owner resolution', () => {
  it('keeps ownership without a ChownOpt', async () => {
    assert.equal(await resolveOwner(undefined, lookup), undefined);
  });

  it('follows BuildKit for ids and names', async () => {
    assert.deepEqual(await resolveOwner(ownerOf(1234, 5678), lookup), { uid: 1234, gid: 5678 });
    assert.deepEqual(await resolveOwner(ownerOf(1234), lookup), { uid: 1234, gid: 1234 });
    assert.deepEqual(await resolveOwner(ownerOf(undefined, 77), lookup), { uid: 0, gid: 77 });
    assert.deepEqual(await resolveOwner(ownerOf('alice'), lookup), { uid: 1001, gid: 1002 });
    assert.deepEqual(await resolveOwner(ownerOf('alice', 'staff'), lookup), { uid: 1001, gid: 2000 });
    assert.deepEqual(await resolveOwner(ownerOf('bob', 2000), lookup), { uid: 1003, gid: 2000 });
    assert.deepEqual(await resolveOwner(ownerOf(undefined, 'staff'), lookup), { uid: 0, gid: 2000 });
  });

  it('takes numeric names as ids and root without a passwd file', async () => {
    assert.deepEqual(await resolveOwner(ownerOf('1234', '55'), lookup), { uid: 1234, gid: 55 });
    assert.deepEqual(await resolveOwner(ownerOf('root'), async () => ({})), { uid: 0, gid: 0 });
  });

  it('fails clearly for unknown names and bad inputs', async () => {
    const err = await resolveOwner(ownerOf('nobody'), lookup).catch((e: unknown) => e);
    assert.ok(err instanceof UnknownOwnerError);
    assert.equal(err.ownerName, 'nobody');
    assert.match(err.message, /user "nobody" is not listed in \/etc\/passwd of input 0/);
    await assert.rejects(resolveOwner(ownerOf('alice', 'nogroup'), lookup), UnknownOwnerError);
    await assert.rejects(
      resolveOwner(ownerOf('alice'), async () => ({})),
      UnknownOwnerError,
    );
    await assert.rejects(resolveOwner(ownerOf('alice'), undefined), UnknownOwnerError);
    await assert.rejects(resolveOwner(ownerOf('alice', undefined, -1n), lookup), InvalidFileActionError);
  });
});
