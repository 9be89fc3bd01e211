import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AddInstruction,
  type CopyInstruction,
  DockerfileError,
  type HealthcheckInstruction,
  type Instruction,
  type RunInstruction,
  ShellLexer,
  TargetNotFoundError,
  buildStageGraph,
  expandInstruction,
  findStage,
  parseDockerfile,
  parseStages,
  resolveMount,
} from '../index.js';

const stagesOf = (text: string) => parseStages(parseDockerfile(text));
const only = (text: string): Instruction => stagesOf(`FROM scratch\n${text}`).stages[0]!.commands[0]!;
const lexer = new ShellLexer();

function rejects(text: string, message: string, lines?: [number, number]): void {
  assert.throws(
    () => stagesOf(text),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err));
      assert.equal(err.message, message);
      if (lines) assert.deepEqual([err.startLine, err.endLine], lines);
      return true;
    },
  );
}

describe('instructions: typed values', () => {
  it('groups stages and meta ARGs, with comments as descriptions', () => {
    const df = stagesOf(
      '# foo sets foo\nARG foo=bar\n\n# base defines first stage\nFROM busybox AS base\n# this is irrelevant\nARG foo\n# bar defines bar\n# baz is something else\nARG bar baz=123\nFROM --platform=$BUILDPLATFORM base\n',
    );
    assert.equal(df.metaArgs[0]!.args[0]!.comment, 'sets foo');
    const [base, second] = df.stages;
    assert.equal(base!.comment, 'defines first stage');
    assert.deepEqual(base!.location, { start: 5, end: 5 });
    assert.equal(base!.code, 'FROM busybox AS base');
    assert.deepEqual((base!.commands[0] as { args: unknown }).args, [{ key: 'foo' }]);
    assert.deepEqual((base!.commands[1] as { args: unknown }).args, [
      { key: 'bar', comment: 'defines bar' },
      { key: 'baz', value: '123', comment: 'is something else' },
    ]);
    assert.equal(second!.platform, '$BUILDPLATFORM');
    assert.equal(second!.name, undefined);
    assert.equal(second!.index, 1);
    assert.equal(findStage(df, 'BASE'), base);
  });

  it('parses COPY and ADD flags, including the newer ones', () => {
    const copy = only(
      'COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=x a b /d/',
    ) as CopyInstruction;
    assert.deepEqual(
      {
        from: copy.from,
        chown: copy.chown,
        chmod: copy.chmod,
        link: copy.link,
        parents: copy.parents,
        excludes: copy.excludes,
      },
      { from: 'build', chown: '1:2', chmod: '0755', link: true, parents: true, excludes: ['*.md', 'x'] },
    );
    assert.deepEqual([copy.sources, copy.dest], [['a', 'b'], '/d/']);
    const add = only(
      'ADD --keep-git-dir --checksum=sha256:abc --link=false --exclude=.git https://x/y.git /src',
    ) as AddInstruction;
    assert.deepEqual(
      [add.keepGitDir, add.checksum, add.link, add.excludes],
      [true, 'sha256:abc', false, ['.git']],
    );
    rejects('FROM a\nADD --from=x a b\n', 'dockerfile parse error on line 2: unknown flag: from');
    rejects(
      'FROM a\nCOPY --keep-git-dir a b\n',
      'dockerfile parse error on line 2: unknown flag: keep-git-dir',
    );
  });

  it('keeps heredoc sources of COPY with their expansion mode', () => {
    const cases: [
      string,
      { sources: string[]; contents: { path: string; data: string; expand: boolean }[] },
    ][] = [
      ['COPY <<EOF /bar\nEOF', { sources: [], contents: [{ path: 'EOF', data: '', expand: true }] }],
      [
        'COPY <<-EOF /bar\n\tTESTING\nEOF',
        { sources: [], contents: [{ path: 'EOF', data: 'TESTING\n', expand: true }] },
      ],
      [
        "COPY <<'EOF' /bar\nTESTING\nEOF",
        { sources: [], contents: [{ path: 'EOF', data: 'TESTING\n', expand: false }] },
      ],
      [
        'COPY <<EOF1 <<EOF2 /bar\nfirst\nEOF1\nsecond\nEOF2',
        {
          sources: [],
          contents: [
            { path: 'EOF1', data: 'first\n', expand: true },
            { path: 'EOF2', data: 'second\n', expand: true },
          ],
        },
      ],
      [
        'COPY <<EOF foo.txt /bar\ninline\nEOF',
        { sources: ['foo.txt'], contents: [{ path: 'EOF', data: 'inline\n', expand: true }] },
      ],
    ];
    for (const [text, want] of cases) {
      const copy = only(text) as CopyInstruction;
      assert.deepEqual({ sources: copy.sources, contents: copy.contents }, want, text);
      assert.equal(copy.dest, '/bar');
    }
  });

  it('parses RUN: exec and shell forms, heredoc files, network and security', () => {
    const exec = only('RUN ["ls", "/"]') as RunInstruction;
    assert.deepEqual(exec.command, { args: ['ls', '/'], prependShell: false, files: [] });
    const shell = only('RUN --network=none --security=insecure ls /') as RunInstruction;
    assert.deepEqual(
      [shell.command.args, shell.command.prependShell, shell.network, shell.security],
      [['ls /'], true, 'none', 'insecure'],
    );
    assert.deepEqual(shell.flagsUsed, ['network', 'security']);
    const doc = only("RUN <<'EOF' | python\nprint(1)\nEOF") as RunInstruction;
    assert.deepEqual(doc.command, {
      args: ["<<'EOF' | python"],
      prependShell: true,
      files: [{ name: 'EOF', data: 'print(1)\n', chomp: false }],
    });
    assert.deepEqual((only('RUN --mount=type=tmpfs,target=/foo/ echo hello') as RunInstruction).flagsUsed, [
      'mount',
    ]);
    rejects(
      'FROM a\nRUN --security=weird x\n',
      'dockerfile parse error on line 2: security "weird" is not valid',
    );
  });

  it('parses HEALTHCHECK durations including --start-interval', () => {
    const h = (
      only(
        'HEALTHCHECK --interval=1m --timeout=2s --start-period=1.5s --start-interval=250ms --retries=4 CMD ["x"]',
      ) as HealthcheckInstruction
    ).health;
    assert.deepEqual(h, {
      test: ['CMD', 'x'],
      interval: 60e9,
      timeout: 2e9,
      startPeriod: 1.5e9,
      startInterval: 250e6,
      retries: 4,
    });
    const none = (only('HEALTHCHECK --interval=5s none') as HealthcheckInstruction).health;
    assert.deepEqual(none.test, ['NONE']);
    assert.deepEqual((only('HEALTHCHECK CMD hello world') as HealthcheckInstruction).health.test, [
      'CMD-SHELL',
      'hello world',
    ]);
  });

  it('reports errors with BuildKit messages and the instruction lines', () => {
    rejects(
      'FROM a\nRUN a \\\n  b\nFOO bar\n',
      'dockerfile parse error on line 4: unknown instruction: FOO (did you mean FROM?)',
      [4, 4],
    );
    rejects('FROM a\nCOPY --boo \\\n  a b\n', 'dockerfile parse error on line 2: unknown flag: boo', [2, 3]);
    rejects('FROM a\nEXPOSE\n', 'dockerfile parse error on line 2: EXPOSE requires at least one argument');
    rejects(
      'FROM a\nRUN --mount=from=$X echo\n',
      "dockerfile parse error on line 2: 'from' doesn't support variable expansion, define alias stage instead",
    );
    rejects(
      'FROM a\nONBUILD ONBUILD RUN x\n',
      "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    );
    rejects('RUN x\nFROM a\n', 'no build stage in current context', [1, 1]);
    for (const cmd of ['MAINTAINER', 'WORKDIR', 'USER', 'STOPSIGNAL']) {
      rejects(`FROM a\n${cmd}\n`, `dockerfile parse error on line 2: ${cmd} requires exactly one argument`);
    }
    for (const cmd of ['ENV', 'LABEL', 'ONBUILD', 'HEALTHCHECK', 'EXPOSE', 'VOLUME']) {
      rejects(`FROM a\n${cmd}\n`, `dockerfile parse error on line 2: ${cmd} requires at least one argument`);
    }
  });
});

describe('instructions: expansion', () => {
  const env = new Map([
    ['NAME', 'svc'],
    ['DIR', '/srv'],
    ['ID', 'cache1'],
  ]);

  it('expands exactly the words BuildKit expands', () => {
    const copy = expandInstruction(
      only('COPY --from=$NAME --chown=$NAME --chmod=$X --exclude=$NAME.md $DIR/a <<EOF ${DIR}/b\n$NAME\nEOF'),
      { lexer, env },
    ) as CopyInstruction;
    assert.deepEqual(
      {
        from: copy.from,
        chown: copy.chown,
        chmod: copy.chmod,
        excludes: copy.excludes,
        sources: copy.sources,
        dest: copy.dest,
        data: copy.contents[0]!.data,
      },
      {
        from: '$NAME',
        chown: 'svc',
        chmod: '',
        excludes: ['svc.md'],
        sources: ['/srv/a'],
        dest: '/srv/b',
        data: 'svc\n',
      },
    );
    const run = expandInstruction(only('RUN --mount=type=cache,id=$ID,target=$DIR/c echo $NAME'), {
      lexer,
      env,
    }) as RunInstruction;
    assert.deepEqual(run.command.args, ['echo $NAME']);
    assert.deepEqual(run.mounts[0]!.resolved, {
      type: 'cache',
      id: 'cache1',
      target: '/srv/c',
      readOnly: false,
      required: false,
    });
    const expose = expandInstruction(only('EXPOSE $PORTS 80'), {
      lexer,
      env: new Map([['PORTS', '1 2/udp']]),
    });
    assert.deepEqual((expose as { ports: unknown }).ports, ['1', '2/udp', '80']);
  });

  it('reports expansion failures at the instruction', () => {
    assert.throws(
      () =>
        expandInstruction(stagesOf('FROM a\n\nWORKDIR ${D:?needed}\n').stages[0]!.commands[0]!, {
          lexer,
          env,
        }),
      (err: unknown) =>
        err instanceof DockerfileError &&
        err.startLine === 3 &&
        err.message === 'failed to process "${D:?needed}": D: needed',
    );
  });

  it('resolves every kind of --mount', () => {
    const id = (w: string): string => w;
    assert.deepEqual(resolveMount('type=bind,from=a,source=/s,target=/t,rw', id), {
      type: 'bind',
      from: 'a',
      source: '/s',
      target: '/t',
      readOnly: false,
      required: false,
    });
    assert.deepEqual(resolveMount('type=secret,id=tok,required,mode=0440,uid=1,gid=2', id), {
      type: 'secret',
      id: 'tok',
      readOnly: true,
      required: true,
      mode: 0o440,
      uid: 1,
      gid: 2,
    });
    assert.deepEqual(resolveMount('type=tmpfs,dst=/t,size=1.5g', id), {
      type: 'tmpfs',
      target: '/t',
      readOnly: false,
      required: false,
      sizeLimit: 1610612736,
    });
    assert.deepEqual(resolveMount('type=ssh,id=gh,required=false', id), {
      type: 'ssh',
      id: 'gh',
      readOnly: true,
      required: false,
    });
    assert.deepEqual(resolveMount('"type=cache","target=/a,b",sharing=PRIVATE', id), {
      type: 'cache',
      target: '/a,b',
      readOnly: false,
      required: false,
      sharing: 'private',
    });
    assert.throws(() => resolveMount('type=bind,from=x,', id), /invalid field '' must be a key=value pair/);
  });
});

describe('instructions: stage graph', () => {
  const graphOf = (text: string, target?: string, metaEnv = new Map<string, string>()) =>
    buildStageGraph(stagesOf(text), { lexer, metaEnv, ...(target === undefined ? {} : { target }) });
  const text = [
    'ARG V=1',
    'FROM alpine:${V} AS base',
    'FROM base AS deps',
    'RUN --mount=from=tools,target=/t --mount=type=cache,target=/c x',
    'FROM golang AS tools',
    'FROM base AS build',
    'COPY --from=deps /a /a',
    'COPY --from=2 /b /b',
    'COPY --from=nginx:latest /c /c',
    'FROM scratch AS unused',
    'COPY --from=build / /',
    'FROM base',
    'COPY --from=BUILD /x /x',
  ].join('\n');

  it('builds only the stages the target needs, dependencies first', () => {
    const g = graphOf(text, undefined, new Map([['V', '3.18']]));
    assert.equal(g.target, 5);
    assert.deepEqual(g.order, [0, 2, 1, 3, 5]);
    assert.equal(g.nodes[0]!.baseName, 'alpine:3.18');
    assert.deepEqual([...g.nodes[0]!.usedArgs], ['V']);
    assert.equal(g.nodes[1]!.baseStage, 0);
    assert.deepEqual(g.nodes[1]!.dependencies, [2]);
    assert.deepEqual(g.nodes[3]!.dependencies, [1, 2]);
    assert.deepEqual(g.nodes[3]!.images, ['nginx:latest']);
    assert.equal(g.nodes[5]!.name, 'stage-5');
  });

  it('refuses a Dockerfile of only global ARGs (found by test/reliability/hostile)', () => {
    assert.throws(
      () => graphOf('ARG BASE\n# no FROM'),
      /^DockerfileError: dockerfile contains no stages to build$/,
    );
  });

  it('selects a target by name, case-insensitively', () => {
    assert.deepEqual(graphOf(text, 'Deps').order, [0, 2, 1]);
    assert.deepEqual(graphOf(text, 'unused').order, [0, 2, 1, 3, 4]);
    assert.throws(
      () => graphOf(text, 'missing'),
      (err: unknown) =>
        err instanceof TargetNotFoundError && err.message === 'target stage missing could not be found',
    );
  });

  it('rejects cycles, bad indexes and blank base names', () => {
    assert.throws(
      () => graphOf('FROM a AS x\nCOPY --from=y a b\nFROM a AS y\nCOPY --from=x a b\n'),
      /circular dependency detected on stage: x/,
    );
    assert.throws(
      () => graphOf('FROM a\nCOPY --from=-1 a b\n'),
      (err: unknown) =>
        err instanceof DockerfileError && err.reason === 'invalid stage index -1' && err.startLine === 2,
    );
    assert.throws(
      () => graphOf('ARG B\nFROM ${B}\n', undefined, new Map([['B', '']])),
      /base name \(\$\{B\}\) should not be blank/,
    );
  });
});
