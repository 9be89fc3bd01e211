import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  DockerfileError,
  type Heredoc,
  detectSyntax,
  chompHeredocContent,
  dumpNodes,
  heredocMarkersOfLine,
  parseCheckDirective,
  parseHeredocMarker,
  parseDockerfile,
} from '../index.js';

const testdata = new URL('../../../../frontend/dockerfile/testdata/parser/', import.meta.url);
const read = (path: string): Buffer => readFileSync(new URL(path, testdata));

describe('parser: BuildKit testfiles corpus (AST dumps)', () => {
  const names = readdirSync(new URL('cases/', testdata));
  it('has the whole corpus', () => assert.equal(names.length, 33));
  for (const name of names) {
    it(name, () => {
      const result = parseDockerfile(read(`cases/${name}/Dockerfile`));
      assert.equal(dumpNodes(result.nodes), read(`cases/${name}/result`).toString('utf8'));
    });
  }
});

describe('parser: BuildKit negative testfiles', () => {
  for (const name of readdirSync(new URL('negative/', testdata))) {
    it(name, () =>
      assert.throws(() => parseDockerfile(read(`negative/${name}/Dockerfile`)), DockerfileError),
    );
  }
});

interface Expected {
  error?: { message: string; ranges: number[][] };
  dump?: string;
  escape?: string;
  warnings?: { short: string; line: number }[];
  nodes?: {
    start: number;
    end: number;
    original: string;
    flags: string[];
    json: boolean;
    comments: string[];
    heredocs: Heredoc[];
  }[];
}

// BuildKit reports errors found while reading a directive line one line too early (0-based).
const directiveErrors = new Set(['err-escape-token.Dockerfile', 'err-escape-twice.Dockerfile']);

describe('parser: tricky Dockerfiles compared with BuildKit v0.11.6', () => {
  const expected = JSON.parse(read('tricky-expected.json').toString('utf8')) as Record<string, Expected>;
  for (const [name, want] of Object.entries(expected)) {
    it(name, () => {
      const source = read(`tricky/${name}`);
      if (want.error) {
        const err = (() => {
          try {
            parseDockerfile(source);
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        assert.ok(err instanceof DockerfileError, `expected an error, got ${String(err)}`);
        assert.equal(err.message, want.error.message);
        const lines = want.error.ranges.map((r) => r[0]!);
        const [first, last] = [Math.min(...lines), Math.max(...lines)];
        if (directiveErrors.has(name)) assert.equal(err.startLine, first + 1);
        else assert.deepEqual([err.startLine, err.endLine], [first, last]);
        return;
      }
      const result = parseDockerfile(source);
      assert.equal(dumpNodes(result.nodes), want.dump);
      assert.equal(result.escapeToken, want.escape);
      assert.deepEqual(
        result.warnings.map((w) => ({ short: w.short, line: w.line })),
        want.warnings,
      );
      assert.deepEqual(
        result.nodes.map((n) => ({
          start: n.startLine,
          end: n.endLine,
          original: n.original,
          flags: n.flags,
          json: n.json,
          comments: n.comments,
          heredocs: n.heredocs,
        })),
        want.nodes,
      );
    });
  }
});

describe('parser: details', () => {
  it('gives the line range of every instruction', () => {
    const result = parseDockerfile(read('line-numbers.Dockerfile'));
    assert.deepEqual(
      result.nodes.map((n) => [n.startLine, n.endLine]),
      [
        [5, 5],
        [11, 12],
        [17, 31],
      ],
    );
  });

  it('collects directives with their lines and honours a backtick escape', () => {
    const result = parseDockerfile(read('tricky/backtick.Dockerfile'));
    assert.deepEqual(result.directives, [
      { name: 'syntax', value: 'docker/dockerfile:1', line: 1 },
      { name: 'escape', value: '`', line: 2 },
      { name: 'check', value: 'skip=JSONArgsRecommended;error=true', line: 3 },
    ]);
    assert.deepEqual(parseCheckDirective(result.directives[2]!), {
      skip: ['JSONArgsRecommended'],
      experimental: [],
      error: true,
    });
  });

  it('rejects bad check directives at their line', () => {
    assert.throws(
      () => parseCheckDirective({ value: 'skip=all;error=maybe', line: 2 }),
      (err: unknown) =>
        err instanceof DockerfileError &&
        err.startLine === 2 &&
        err.message ===
          'failed to parse check option "error=maybe": strconv.ParseBool: parsing "maybe": invalid syntax',
    );
    assert.throws(() => parseCheckDirective({ value: 'nope', line: 1 }), /invalid check option "nope"/);
    assert.deepEqual(parseCheckDirective({ value: 'skip=all', line: 1 }).skip, 'all');
  });

  it('detects the syntax directive in all the forms BuildKit accepts', () => {
    assert.deepEqual(detectSyntax('# syntax=docker/dockerfile:1.4 --x\nFROM a\n'), {
      image: 'docker/dockerfile:1.4',
      cmdline: 'docker/dockerfile:1.4 --x',
      line: 1,
    });
    assert.deepEqual(detectSyntax('#!/usr/bin/env x\n// syntax = a/b\n'), {
      image: 'a/b',
      cmdline: 'a/b',
      line: 2,
    });
    assert.deepEqual(detectSyntax('{"syntax": "c/d"}'), { image: 'c/d', cmdline: 'c/d', line: 0 });
    assert.equal(detectSyntax('\n# syntax=late\nFROM a'), undefined);
    assert.deepEqual(detectSyntax('# escape=`\n# syntax=ok'), { image: 'ok', cmdline: 'ok', line: 2 });
  });

  it('rejects an over-long line like bufio.Scanner does', () => {
    const long = `FROM image\nLABEL test=${'a'.repeat(65536)}\n`;
    assert.throws(() => parseDockerfile(long), /dockerfile line greater than max allowed size of 65535/);
  });

  it('accepts bytes and strings alike, with or without a BOM', () => {
    const text = '\ufeffFROM a\nRUN b\n';
    const bytes = new TextEncoder().encode(text);
    assert.equal(dumpNodes(parseDockerfile(text).nodes), dumpNodes(parseDockerfile(bytes).nodes));
    assert.equal(parseDockerfile(bytes).nodes[0]!.value, 'FROM');
  });

  it('carries code and kind on errors', () => {
    assert.throws(
      () => parseDockerfile('FROM a\nRUN <<EOF\n'),
      (err: unknown) =>
        err instanceof DockerfileError &&
        err.code === 'KILN_DOCKERFILE_INVALID' &&
        err.kind === 'invalid-argument' &&
        err.startLine === 2 &&
        err.endLine === 2,
    );
  });
});

describe('parser: heredoc markers (BuildKit helper tables)', () => {
  it('recognises markers and their terminators', () => {
    for (const src of ['<<EOF', "<<'EOF'", '<<"EOF"', '<<-EOF', "<<-'EOF'", '<<-"EOF"', '<<EO"F"']) {
      assert.equal(parseHeredocMarker(src)?.name, 'EOF', src);
    }
    for (const src of ['', 'EOF', '<<', '<<-', '<EOF', '<<<EOF', '<<EOF sh']) {
      assert.equal(parseHeredocMarker(src), undefined, src);
    }
    for (const src of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
      assert.throws(() => parseHeredocMarker(src), src);
    assert.deepEqual(parseHeredocMarker('3<<-"E O"'), {
      name: 'E O',
      fileDescriptor: 3,
      expand: false,
      chomp: true,
    });
  });

  it('finds the markers of a line, skipping quoted ones', () => {
    const names = (line: string) => heredocMarkersOfLine(line).map((m) => m.name);
    assert.deepEqual(names('RUN <<EOF'), ['EOF']);
    assert.deepEqual(names('RUN 4<<-EOF <<EOF2'), ['EOF', 'EOF2']);
    assert.deepEqual(names("RUN '<<EOF'"), []);
    assert.deepEqual(names('RUN "<<EOF"'), []);
    assert.equal(chompHeredocContent('\thello\n\t\tworld\n x\n'), 'hello\nworld\n x\n');
  });
});
