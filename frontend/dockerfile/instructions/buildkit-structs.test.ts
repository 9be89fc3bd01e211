import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type Instruction, parseDockerfile, parseStages } from '../index.js';

const stagesOf = (text: string) => parseStages(parseDockerfile(text));
const testdata = new URL('../../../../frontend/dockerfile/testdata/instructions/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, testdata), 'utf8');

/** Our instruction in the shape BuildKit's Go structs marshal to, for comparison with its output. */
function goShape(i: Instruction): unknown {
  const nil = <T>(list: readonly T[]): readonly T[] | null => (list.length ? list : null);
  const files = (f: readonly { name: string; data: string; chomp: boolean }[]) =>
    nil(f.map((x) => ({ Name: x.name, Data: x.data, Chomp: x.chomp })));
  const contents = (c: readonly { path: string; data: string; expand: boolean }[]) =>
    nil(c.map((x) => ({ Path: x.path, Data: x.data, Expand: x.expand })));
  const pairs = (p: readonly { key: string; value: string }[]) =>
    p.map((x) => ({ Key: x.key, Value: x.value }));
  switch (i.kind) {
    case 'run':
      return {
        CmdLine: i.command.args,
        Files: files(i.command.files),
        PrependShell: i.command.prependShell,
        FlagsUsed: i.flagsUsed,
      };
    case 'cmd':
      return { CmdLine: i.command.args, Files: files(i.command.files), PrependShell: i.command.prependShell };
    case 'entrypoint':
      return {
        CmdLine: nil(i.command.args),
        Files: files(i.command.files),
        PrependShell: i.command.prependShell,
      };
    case 'copy':
      return {
        DestPath: i.dest,
        SourcePaths: nil(i.sources),
        SourceContents: contents(i.contents),
        From: i.from ?? '',
        Chown: i.chown ?? '',
        Chmod: i.chmod ?? '',
        Link: i.link,
      };
    case 'add':
      return {
        DestPath: i.dest,
        SourcePaths: nil(i.sources),
        SourceContents: contents(i.contents),
        Chown: i.chown ?? '',
        Chmod: i.chmod ?? '',
        Link: i.link,
        KeepGitDir: i.keepGitDir,
        Checksum: i.checksum ?? '',
      };
    case 'healthcheck': {
      const h = i.health;
      const Health = {
        Test: h.test,
        Interval: h.interval || undefined,
        Timeout: h.timeout || undefined,
        StartPeriod: h.startPeriod || undefined,
        Retries: h.retries || undefined,
      };
      return { Health: JSON.parse(JSON.stringify(Health)) as unknown };
    }
    case 'expose':
      return { Ports: i.ports };
    case 'volume':
      return { Volumes: i.volumes };
    case 'stopsignal':
      return { Signal: i.signal };
    case 'user':
      return { User: i.user };
    case 'workdir':
      return { Path: i.path };
    case 'shell':
      return { Shell: i.shell };
    case 'maintainer':
      return { Maintainer: i.maintainer };
    case 'arg':
      return { Args: i.args.map((a) => ({ Key: a.key, Value: a.value ?? null, Comment: a.comment ?? '' })) };
    case 'env':
      return { Env: pairs(i.pairs) };
    case 'label':
      return { Labels: pairs(i.pairs) };
    case 'onbuild':
      return { Expression: i.expression };
  }
}

describe('instructions: typed values compared with BuildKit v0.11.6', () => {
  const expected = JSON.parse(read('expected.json')) as Record<
    string,
    {
      stages: {
        Commands: unknown[];
        Name: string;
        BaseName: string;
        Platform: string;
        Comment: string;
        SourceCode: string;
        Location: { Start: { Line: number } }[];
      }[];
      meta: { Args: unknown[] }[] | null;
    }
  >;
  for (const [file, want] of Object.entries(expected)) {
    it(file, () => {
      const df = stagesOf(read(file));
      assert.deepEqual(
        df.stages.map((s) => ({
          Name: s.name ?? '',
          Commands: s.commands.map(goShape),
          BaseName: s.baseName,
          Platform: s.platform ?? '',
          Comment: s.comment ?? '',
          SourceCode: s.code,
          Lines: [s.location.start, s.location.end],
        })),
        want.stages.map((s) => ({
          Name: s.Name,
          Commands: s.Commands,
          BaseName: s.BaseName,
          Platform: s.Platform,
          Comment: s.Comment,
          SourceCode: s.SourceCode,
          Lines: [s.Location[0]!.Start.Line, s.Location.at(-1)!.Start.Line],
        })),
      );
      assert.deepEqual(df.metaArgs.map(goShape), want.meta ?? []);
    });
  }
});
