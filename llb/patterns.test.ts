import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PathFilter,
  PatternError,
  PatternMatcher,
  cleanPath,
  parseDockerignore,
  selectPaths,
} from './patterns.js';

interface CorpusSet {
  name: string;
  options: { includePatterns?: string[]; excludePatterns?: string[]; followPaths?: string[] };
}

const CORPUS_FILES: string[] = [
  '.dockerignore',
  '.git/HEAD',
  '.git/config',
  '.hidden',
  'README.md',
  'a.txt',
  'b.log',
  'c.tmp',
  'ab.tmp',
  'build/out.bin',
  'build/keep.txt',
  'build/sub/x.o',
  'build/sub/y.c',
  'docs/index.md',
  'docs/README.md',
  'docs/api/ref.md',
  'docs/api/old/legacy.md',
  'docs/old/notes.md',
  'node_modules/pkg/index.js',
  'node_modules/pkg/README.md',
  'node_modules/.bin/tool',
  'src/main.go',
  'src/main_test.go',
  'src/util/helper.go',
  'src/util/helper_test.go',
  'src/vendor/lib.go',
  'src/vendor/keep/me.go',
  'test/fixtures/data.json',
  'test/fixtures/large.bin',
  'test/unit/a_test.go',
  'logs/2023/app.log',
  'logs/2024/app.log',
  'logs/keep/important.log',
  'logs/readme.txt',
  'weird[name].txt',
  'space name.txt',
  'deep/a/b/c/d/e.txt',
  'deep/a/b/other.txt',
  'deep/x.txt',
  'empty-dir/',
  'tmp/cache/x.tmp',
  'tmp/keep/',
  'foo.bak',
  'foo/bar.bak',
  'Makefile',
  'makefile.in',
];
const CORPUS_SETS: CorpusSet[] = [
  {
    name: 'dockerignore-40',
    options: {
      excludePatterns: [
        '# comment is not sent by the frontend but harmless',
        '.git',
        '*.log',
        '!logs/keep/*.log',
        '**/*_test.go',
        'build',
        '!build/keep.txt',
        'node_modules',
        'docs/**/old',
        '?.tmp',
        '[ab].txt',
        '**/README.md',
        '!README.md',
        'src/vendor',
        '!src/vendor/keep',
        'test/fixtures/*.bin',
        'deep/**/e.txt',
        'weird\\[name\\].txt',
        'space name.txt',
        'tmp/**',
        '!tmp/keep',
        '*.bak',
        '!foo/*.bak',
        '[Mm]akefile*',
        '!Makefile',
        'logs/202?',
        '.hidden',
        'empty-dir',
        'docs/api/*.md',
        '!docs/api/ref.md',
        'c.tmp',
        'deep/x*',
        '!deep/x.txt',
        'test/unit',
        '!test/unit/**',
        'src/util/*.go',
        '!src/util/helper.go',
        'ab.tmp',
        '!ab.tmp',
      ],
    },
  },
  { name: 'exclude-dir-reinclude-deep', options: { excludePatterns: ['deep', '!deep/a/b/c'] } },
  { name: 'exclude-star-reinclude-glob', options: { excludePatterns: ['*', '!src/**/*.go', '!Makefile'] } },
  { name: 'exclude-all-doublestar', options: { excludePatterns: ['**', '!docs'] } },
  { name: 'include-prefix', options: { includePatterns: ['src', 'docs/api'] } },
  { name: 'include-glob', options: { includePatterns: ['**/*.md', 'logs/*/app.log'] } },
  {
    name: 'include-with-exclude',
    options: { includePatterns: ['src', 'logs'], excludePatterns: ['**/*_test.go', 'logs/2023'] },
  },
  { name: 'followpaths', options: { followPaths: ['deep/a/b/other.txt', 'Makefile'] } },
  {
    name: 'reinclude-order',
    options: { excludePatterns: ['!a.txt', '*.txt', 'logs', '!logs/readme.txt', 'logs/readme.txt'] },
  },
];

// What a real buildctl v0.11.6 sent for each set (recorded once through kiln's FileSync receiver;
// the tree is CORPUS_FILES plus a Dockerfile, every file's content being its path).
const RECORDED: Record<string, string[]> = {
  'dockerignore-40': [
    '.dockerignore',
    'Dockerfile',
    'Makefile',
    'README.md',
    'ab.tmp',
    'build',
    'build/keep.txt',
    'deep',
    'deep/a',
    'deep/a/b',
    'deep/a/b/c',
    'deep/a/b/c/d',
    'deep/a/b/other.txt',
    'deep/x.txt',
    'docs',
    'docs/api',
    'docs/api/ref.md',
    'docs/index.md',
    'foo',
    'foo/bar.bak',
    'logs',
    'logs/keep',
    'logs/keep/important.log',
    'logs/readme.txt',
    'src',
    'src/main.go',
    'src/util',
    'src/util/helper.go',
    'src/vendor',
    'src/vendor/keep',
    'src/vendor/keep/me.go',
    'test',
    'test/fixtures',
    'test/fixtures/data.json',
    'test/unit',
    'test/unit/a_test.go',
    'tmp',
    'tmp/keep',
  ],
  'exclude-dir-reinclude-deep': [
    '.dockerignore',
    '.git',
    '.git/HEAD',
    '.git/config',
    '.hidden',
    'Dockerfile',
    'Makefile',
    'README.md',
    'a.txt',
    'ab.tmp',
    'b.log',
    'build',
    'build/keep.txt',
    'build/out.bin',
    'build/sub',
    'build/sub/x.o',
    'build/sub/y.c',
    'c.tmp',
    'deep',
    'deep/a',
    'deep/a/b',
    'deep/a/b/c',
    'deep/a/b/c/d',
    'deep/a/b/c/d/e.txt',
    'docs',
    'docs/README.md',
    'docs/api',
    'docs/api/old',
    'docs/api/old/legacy.md',
    'docs/api/ref.md',
    'docs/index.md',
    'docs/old',
    'docs/old/notes.md',
    'empty-dir',
    'foo',
    'foo/bar.bak',
    'foo.bak',
    'logs',
    'logs/2023',
    'logs/2023/app.log',
    'logs/2024',
    'logs/2024/app.log',
    'logs/keep',
    'logs/keep/important.log',
    'logs/readme.txt',
    'makefile.in',
    'node_modules',
    'node_modules/.bin',
    'node_modules/.bin/tool',
    'node_modules/pkg',
    'node_modules/pkg/README.md',
    'node_modules/pkg/index.js',
    'space name.txt',
    'src',
    'src/main.go',
    'src/main_test.go',
    'src/util',
    'src/util/helper.go',
    'src/util/helper_test.go',
    'src/vendor',
    'src/vendor/keep',
    'src/vendor/keep/me.go',
    'src/vendor/lib.go',
    'test',
    'test/fixtures',
    'test/fixtures/data.json',
    'test/fixtures/large.bin',
    'test/unit',
    'test/unit/a_test.go',
    'tmp',
    'tmp/cache',
    'tmp/cache/x.tmp',
    'tmp/keep',
    'weird[name].txt',
  ],
  'exclude-star-reinclude-glob': [
    'Makefile',
    'src',
    'src/main.go',
    'src/main_test.go',
    'src/util',
    'src/util/helper.go',
    'src/util/helper_test.go',
    'src/vendor',
    'src/vendor/keep',
    'src/vendor/keep/me.go',
    'src/vendor/lib.go',
  ],
  'exclude-all-doublestar': [
    'docs',
    'docs/README.md',
    'docs/api',
    'docs/api/old',
    'docs/api/old/legacy.md',
    'docs/api/ref.md',
    'docs/index.md',
    'docs/old',
    'docs/old/notes.md',
  ],
  'include-prefix': [
    'docs',
    'docs/api',
    'docs/api/old',
    'docs/api/old/legacy.md',
    'docs/api/ref.md',
    'src',
    'src/main.go',
    'src/main_test.go',
    'src/util',
    'src/util/helper.go',
    'src/util/helper_test.go',
    'src/vendor',
    'src/vendor/keep',
    'src/vendor/keep/me.go',
    'src/vendor/lib.go',
  ],
  'include-glob': [
    'README.md',
    'docs',
    'docs/README.md',
    'docs/api',
    'docs/api/old',
    'docs/api/old/legacy.md',
    'docs/api/ref.md',
    'docs/index.md',
    'docs/old',
    'docs/old/notes.md',
    'logs',
    'logs/2023',
    'logs/2023/app.log',
    'logs/2024',
    'logs/2024/app.log',
    'node_modules',
    'node_modules/pkg',
    'node_modules/pkg/README.md',
  ],
  'include-with-exclude': [
    'logs',
    'logs/2024',
    'logs/2024/app.log',
    'logs/keep',
    'logs/keep/important.log',
    'logs/readme.txt',
    'src',
    'src/main.go',
    'src/util',
    'src/util/helper.go',
    'src/vendor',
    'src/vendor/keep',
    'src/vendor/keep/me.go',
    'src/vendor/lib.go',
  ],
  followpaths: ['Makefile', 'deep', 'deep/a', 'deep/a/b', 'deep/a/b/other.txt'],
  'reinclude-order': [
    '.dockerignore',
    '.git',
    '.git/HEAD',
    '.git/config',
    '.hidden',
    'Dockerfile',
    'Makefile',
    'README.md',
    'ab.tmp',
    'b.log',
    'build',
    'build/keep.txt',
    'build/out.bin',
    'build/sub',
    'build/sub/x.o',
    'build/sub/y.c',
    'c.tmp',
    'deep',
    'deep/a',
    'deep/a/b',
    'deep/a/b/c',
    'deep/a/b/c/d',
    'deep/a/b/c/d/e.txt',
    'deep/a/b/other.txt',
    'deep/x.txt',
    'docs',
    'docs/README.md',
    'docs/api',
    'docs/api/old',
    'docs/api/old/legacy.md',
    'docs/api/ref.md',
    'docs/index.md',
    'docs/old',
    'docs/old/notes.md',
    'empty-dir',
    'foo',
    'foo/bar.bak',
    'foo.bak',
    'makefile.in',
    'node_modules',
    'node_modules/.bin',
    'node_modules/.bin/tool',
    'node_modules/pkg',
    'node_modules/pkg/README.md',
    'node_modules/pkg/index.js',
    'src',
    'src/main.go',
    'src/main_test.go',
    'src/util',
    'src/util/helper.go',
    'src/util/helper_test.go',
    'src/vendor',
    'src/vendor/keep',
    'src/vendor/keep/me.go',
    'src/vendor/lib.go',
    'test',
    'test/fixtures',
    'test/fixtures/data.json',
    'test/fixtures/large.bin',
    'test/unit',
    'test/unit/a_test.go',
    'tmp',
    'tmp/cache',
    'tmp/cache/x.tmp',
    'tmp/keep',
  ],
};

/** The corpus tree in fsutil walk order (byte-sorted names, directories before their contents). */
function corpusEntries(): { path: string; isDir: boolean }[] {
  const entries = new Map<string, boolean>();
  for (const file of [...CORPUS_FILES, 'Dockerfile']) {
    const isDir = file.endsWith('/');
    const path = isDir ? file.slice(0, -1) : file;
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) entries.set(parts.slice(0, i).join('/'), true);
    entries.set(path, isDir);
  }
  const order = (p: string): Buffer[] => p.split('/').map((s) => Buffer.from(s));
  return [...entries]
    .map(([path, isDir]) => ({ path, isDir }))
    .sort((a, b) => {
      const x = order(a.path);
      const y = order(b.path);
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = Buffer.compare(x[i] as Buffer, y[i] as Buffer);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    });
}

describe('pattern corpus against buildctl v0.11.6', () => {
  for (const set of CORPUS_SETS) {
    it(`${set.name} selects the same files as BuildKit`, () => {
      // Follow paths without symlinks are plain include patterns.
      const includePatterns = [...(set.options.includePatterns ?? []), ...(set.options.followPaths ?? [])];
      const filter = new PathFilter({
        ...(includePatterns.length ? { includePatterns } : {}),
        ...(set.options.excludePatterns ? { excludePatterns: set.options.excludePatterns } : {}),
      });
      assert.deepEqual(selectPaths(corpusEntries(), filter), RECORDED[set.name]);
    });
  }
});

describe('PatternMatcher', () => {
  it('matches a path when it or a parent directory matches, later patterns winning', () => {
    const m = new PatternMatcher(['docs', '!docs/keep', '*.log', '**/tmp/**']);
    assert.equal(m.matches('docs/a.md'), true);
    assert.equal(m.matches('docs/keep/x'), false);
    assert.equal(m.matches('a.log'), true);
    assert.equal(m.matches('sub/a.log'), false);
    assert.equal(m.matches('x/tmp/y/z'), true);
    assert.equal(m.matches('tmp'), false);
    assert.ok(m.hasExclusions);
  });

  it('gives * and ? no power over slashes, and ** any depth', () => {
    assert.ok(new PatternMatcher(['a/*/c']).matches('a/b/c'));
    assert.ok(!new PatternMatcher(['a/*/c']).matches('a/b/x/c'));
    assert.ok(new PatternMatcher(['a/**/c']).matches('a/b/x/c'));
    assert.ok(new PatternMatcher(['a/**/c']).matches('a/c'));
    assert.ok(new PatternMatcher(['**/c']).matches('c'));
    assert.ok(new PatternMatcher(['f?o']).matches('foo'));
    assert.ok(!new PatternMatcher(['f?o']).matches('f/o'));
    assert.ok(new PatternMatcher(['[a-c]x']).matches('bx'));
    assert.ok(!new PatternMatcher(['[^a-c]x']).matches('bx'));
    assert.ok(new PatternMatcher(['a\\*b']).matches('a*b'));
    assert.ok(!new PatternMatcher(['a\\*b']).matches('axb'));
    assert.ok(new PatternMatcher(['a.b+c(d)']).matches('a.b+c(d)'));
    assert.ok(!new PatternMatcher(['a.b']).matches('axb'));
  });

  it('cleans patterns: ./ and // and trailing slashes go', () => {
    assert.ok(new PatternMatcher(['./foo//bar/']).matches('foo/bar'));
    assert.equal(cleanPath('a/../b/./c/'), 'b/c');
    assert.equal(cleanPath(''), '.');
  });

  it('rejects malformed patterns', () => {
    assert.throws(() => new PatternMatcher(['!']), PatternError);
    assert.throws(() => new PatternMatcher(['[abc']), PatternError);
    assert.throws(() => new PatternMatcher(['[z-a]']), PatternError);
    assert.throws(() => new PatternMatcher(['a\\']), PatternError);
    assert.throws(() => new PatternMatcher(['[]']), PatternError);
  });
});

describe('parseDockerignore', () => {
  it('reads a .dockerignore the way the BuildKit Dockerfile frontend does', () => {
    const text = '\uFEFF# comment\n  *.log  \n\n/build/\n! /keep.log\n./a/../b\n #not a comment\r\nlast';
    assert.deepEqual(parseDockerignore(text), ['*.log', 'build', '!keep.log', 'b', '#not a comment', 'last']);
  });
});
