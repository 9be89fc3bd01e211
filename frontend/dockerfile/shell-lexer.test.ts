import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ShellLexer, WordExpansionError, envFromList, type ShellLexerOptions } from './index.js';

const testdata = new URL('../../../frontend/dockerfile/testdata/shell/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, testdata), 'utf8');

describe('shell lexer: BuildKit envVarTest table', () => {
  const env = envFromList(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);
  const lexer = new ShellLexer();
  let checked = 0;
  for (const [n, raw] of read('envVarTest').split('\n').entries()) {
    if (raw.startsWith('#') || raw.trim() === '') continue;
    const cols = raw.trim().split('|');
    assert.equal(cols.length, 3, `line ${n + 1}`);
    const [platform, source, expected] = cols.map((c) => c.trim()) as [string, string, string];
    if (platform === 'W') continue;
    checked++;
    it(`line ${n + 1}: ${source}`, () => {
      if (expected === 'error') {
        assert.throws(() => lexer.processWord(source, env), WordExpansionError);
      } else {
        assert.equal(lexer.processWord(source, env), expected);
      }
    });
  }
  it('covers the whole table', () => assert.ok(checked >= 228, `only ${checked} rows`));
});

describe('shell lexer: BuildKit wordsTest table', () => {
  // BuildKit's Go test meant to run this table twice (the second time with raw quotes and unset
  // variables kept), but its second pass reads an exhausted file, so only the normal mode is a fact.
  const lexer = new ShellLexer();
  const env: string[] = [];
  for (const [n, line] of read('wordsTest').split('\n').entries()) {
    if (line.startsWith('#') || line === '') continue;
    if (line.startsWith('ENV ')) {
      env.push(line.slice(3).replace(/^ +/, ''));
      continue;
    }
    const cols = line.split('|');
    assert.equal(cols.length, 2, `line ${n + 1}`);
    const source = cols[0]!.trim();
    const expected = cols[1]!.replace(/^ +/, '').split(',');
    const vars = envFromList(env);
    it(`line ${n + 1}: ${source}`, () => {
      let got: string[];
      try {
        got = lexer.processWords(source, vars);
      } catch (err) {
        assert.ok(err instanceof WordExpansionError);
        got = ['error'];
      }
      assert.deepEqual(got, expected);
    });
  }
});

interface MatchCase {
  input: string;
  env: Record<string, string>;
  expected?: string;
  error?: boolean;
  matches: string[];
  unmatched: string[];
}

describe('shell lexer: BuildKit ProcessWithMatches table (newer operators)', () => {
  const lexer = new ShellLexer();
  const cases = JSON.parse(read('process-with-matches.json')) as MatchCase[];
  for (const c of cases) {
    it(c.input, () => {
      const env = new Map(Object.entries(c.env));
      if (c.error) {
        assert.throws(() => lexer.process(c.input, env), WordExpansionError);
        return;
      }
      const out = lexer.process(c.input, env);
      assert.equal(out.result, c.expected);
      assert.deepEqual([...out.matched].sort(), c.matches);
      assert.deepEqual([...out.unmatched].sort(), c.unmatched);
    });
  }
});

interface OracleCase {
  word: string;
  options: ShellLexerOptions;
  split: boolean;
  expected?: string | string[];
  error?: string;
}

describe('shell lexer: cases run through BuildKit v0.11.6', () => {
  const data = JSON.parse(read('buildkit-v0.11.6-cases.json')) as { env: string[]; cases: OracleCase[] };
  const env = envFromList(data.env);
  for (const c of data.cases) {
    it(`${JSON.stringify(c.word)} ${JSON.stringify(c.options)}${c.split ? ' words' : ''}`, () => {
      const lexer = new ShellLexer(c.options);
      const run = (): string | string[] =>
        c.split ? lexer.processWords(c.word, env) : lexer.processWord(c.word, env);
      if (c.error !== undefined) {
        assert.throws(run, (err: unknown) => err instanceof WordExpansionError && err.message === c.error);
      } else {
        assert.deepEqual(run(), c.expected);
      }
    });
  }
});

describe('shell lexer: details', () => {
  const lexer = new ShellLexer();

  it('reports mandatory variables with their message', () => {
    const word = '${VAR:?message here$ARG}';
    assert.equal(lexer.processWord(word, envFromList(['VAR=plain', 'ARG=x'])), 'plain');
    assert.throws(() => lexer.processWord(word, envFromList(['VAR=', 'ARG=x'])), /VAR: message herex/);
    assert.throws(() => lexer.processWord(word, envFromList(['ARG=x'])), /VAR: message herex/);
    assert.equal(lexer.processWord('${VAR?m}', envFromList(['VAR='])), '');
  });

  it('expands the release-name idiom with and without a variant', () => {
    const word = 'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz';
    const base = ['VERSION=v1.2.3', 'TARGETOS=linux'];
    const arm = envFromList([...base, 'TARGETARCH=arm', 'TARGETVARIANT=v7']);
    assert.equal(lexer.processWord(word, arm), 'something-v1.2.3.linux-arm-v7.tar.gz');
    const arm64 = envFromList([...base, 'TARGETARCH=arm64', 'TARGETVARIANT=']);
    assert.equal(lexer.processWord(word, arm64), 'something-v1.2.3.linux-arm64.tar.gz');
  });

  it('carries the word and reason on errors', () => {
    assert.throws(
      () => lexer.processWord('he${PWD', new Map()),
      (err: unknown) =>
        err instanceof WordExpansionError &&
        err.code === 'KILN_DOCKERFILE_EXPANSION' &&
        err.kind === 'invalid-argument' &&
        err.word === 'he${PWD' &&
        err.message === `failed to process "he\${PWD": missing ':' in substitution`,
    );
  });

  it('leaves unset references alone when asked to, in every form', () => {
    const skip = lexer.with({ skipUnsetEnv: true });
    const env = envFromList(['SET=1']);
    assert.equal(
      skip.processWord('$U ${U} ${U:-d} ${U-d} ${U:+a} ${U#p} ${U//p/r} $SET', env),
      '$U ${U} ${U:-d} ${U-d} ${U:+a} ${U#p} ${U/p/r} 1',
    );
  });

  it('uses Go replace-all semantics for ${V//p/r}', () => {
    const env = envFromList(['V=baaac', 'W=a.b.c']);
    assert.equal(lexer.processWord('${V//a/-}', env), 'b---c');
    // The lexer expands `$0` itself; an escaped `\$0` reaches Go's template expansion.
    assert.equal(lexer.processWord('${W//./[$0]}', env), 'a[]b[]c');
    assert.equal(lexer.processWord('${W//./\\$0}', env), 'a\\.b\\.c');
    assert.equal(lexer.processWord('${W/./\\$0}', env), 'a\\$0b.c');
    assert.equal(lexer.processWord('${V//?/<\\$0>}', env), '<\\b><\\a><\\a><\\a><\\c>');
    assert.throws(() => lexer.processWord('${V#\\x}', env), /invalid pattern \(\\x\) in substitution/);
  });

  it('takes the backtick as the escape character when configured', () => {
    const tick = new ShellLexer({ escapeToken: '`' });
    assert.equal(tick.processWord('C:\\path` with` space', new Map()), 'C:\\path with space');
    assert.deepEqual(tick.processWords('a` b c', new Map()), ['a b', 'c']);
  });
});
