import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GoDuration, GoMap, GoStruct, GoTime, formatGoDuration, goJson } from './go-json.js';
import { GoTemplate } from './go-template.js';
import { tabwrite } from './tabwriter.js';
import { formatBytes, formatBytesShort, toFixedEven } from './units.js';
import { parseFlags, parseGoDuration } from '../cli/flags.js';

const tabs = { minWidth: 1, tabWidth: 8, padding: 1, padChar: '\t' };

describe('tabwriter (Go text/tabwriter semantics)', () => {
  it('pads a column block with tabs to the widest cell plus padding, rounded to the tab width', () => {
    // What buildctl du prints (checked against its output byte-for-byte).
    const text =
      'ID\tRECLAIMABLE\tSIZE\tLAST ACCESSED\n' +
      `${'a'.repeat(25).padEnd(71)}\t${'true'.padEnd(11)}\t3.09MB\t\n`;
    assert.equal(
      tabwrite(text, tabs),
      'ID' +
        '\t'.repeat(9) +
        'RECLAIMABLE\tSIZE\tLAST ACCESSED\n' +
        'a'.repeat(25).padEnd(71) +
        '\ttrue       \t3.09MB\t\n',
    );
  });
  it('ends a block at a line with fewer cells, as in verbose output', () => {
    assert.equal(
      tabwrite('ID:\tx\nCreated at:\ty\nLabels:\n\tk:\tv\n', tabs),
      'ID:\t\tx\nCreated at:\ty\nLabels:\n\tk:\tv\n',
    );
  });
  it('pads with spaces when asked', () => {
    assert.equal(
      tabwrite('BuildKit:\tv1\n', { minWidth: 0, tabWidth: 0, padding: 1, padChar: ' ' }),
      'BuildKit: v1\n',
    );
  });
});

describe('byte units and numbers', () => {
  it('prints integers below 1000 and two decimals above, in decimal units', () => {
    assert.equal(formatBytes(0), '0B');
    assert.equal(formatBytes(999), '999B');
    assert.equal(formatBytes(3086064), '3.09MB');
    assert.equal(formatBytes(8192), '8.19kB');
    assert.equal(formatBytesShort(512_000_000), '512MB');
    assert.equal(formatBytesShort(26_000_000_000n), '26GB');
    assert.equal(formatBytesShort(1500), '1.5kB');
  });
  it('rounds exact ties to even like Go, unlike toFixed', () => {
    assert.equal(formatBytes(1125), '1.12kB');
    assert.equal(formatBytes(1135), '1.14kB');
    assert.equal(toFixedEven(0.05, 1), '0.1');
    assert.equal(toFixedEven(0.25, 1), '0.2');
  });
  it('formats and parses Go durations', () => {
    assert.equal(formatGoDuration(172800000000000n), '48h0m0s');
    assert.equal(formatGoDuration(1_500_000_000n), '1.5s');
    assert.equal(formatGoDuration(90_000_000_000n), '1m30s');
    assert.equal(formatGoDuration(2_000_000n), '2ms');
    assert.equal(parseGoDuration('1000h'), 3600000000000000n);
    assert.equal(parseGoDuration('1h30m'), 5_400_000_000_000n);
    assert.throws(() => parseGoDuration('5 days'));
  });
});

describe('Go JSON and templates', () => {
  const usage = new GoStruct([
    { name: 'ID', json: 'id', value: 'abc' },
    { name: 'Size', json: 'size', value: 8192n },
    {
      name: 'CreatedAt',
      json: 'createdAt',
      value: new GoTime(BigInt(Date.parse('2026-11-27T20:09:11Z') / 1000), 638788278),
    },
    { name: 'Parents', json: 'parents', value: null },
    { name: 'Desc', json: 'description', value: 'a <b> & c' },
    { name: 'Labels', json: 'labels', value: new GoMap({ z: '1', a: '2' }) },
    { name: 'Keep', json: 'keep', value: new GoDuration(0n), omitEmpty: false },
  ]);
  it('writes struct fields in order, map keys sorted, times RFC 3339 with nanoseconds', () => {
    assert.equal(
      goJson(usage),
      '{"id":"abc","size":8192,"createdAt":"2026-11-27T20:09:11.638788278Z","parents":null,' +
        '"description":"a \\u003cb\\u003e \\u0026 c","labels":{"a":"2","z":"1"},"keep":0}',
    );
    assert.match(goJson(usage, { escapeHtml: false }), /"a <b> & c"/);
  });
  it('executes {{json .}}, fields, range, if and literals', () => {
    assert.equal(new GoTemplate('json').execute([usage]).startsWith('[{"id":"abc"'), true);
    assert.equal(
      new GoTemplate('{{range .}}{{.ID}} {{.Size}} {{.CreatedAt}}{{"\\n"}}{{end}}').execute([usage]),
      'abc 8192 2026-11-27 20:09:11.638788278 +0000 UTC\n',
    );
    assert.equal(
      new GoTemplate('{{if .Parents}}p{{else}}none{{end}} {{len .Labels}}').execute(usage),
      'none 2',
    );
    assert.equal(new GoTemplate('{{- .ID -}} \n').execute(usage), 'abc');
    assert.throws(() => new GoTemplate('{{.Nope}}').execute(usage), /can't evaluate field Nope/);
    assert.throws(() => new GoTemplate('{{range .}}').execute([]), /unexpected EOF/);
  });
});

describe('flag parsing (urfave/cli + Go flag)', () => {
  const specs = [
    { name: 'output', aliases: ['o'], kind: 'strings', usage: '' },
    { name: 'no-cache', kind: 'bool', usage: '' },
    { name: 'timeout', kind: 'int', usage: '', default: 5 },
    { name: 'keep-duration', kind: 'duration', usage: '' },
    { name: 'keep-storage', kind: 'float', usage: '' },
  ] as const;
  it('accepts one or two dashes, =value or the next argument, repeated and aliased flags', () => {
    const f = parseFlags(
      [
        '-o',
        'a',
        '--output=b',
        'pos',
        '-no-cache',
        '--timeout',
        '7',
        '--keep-duration=1h',
        '--keep-storage',
        '1.5',
      ],
      specs,
    );
    assert.deepEqual(f.strings('output'), ['a', 'b']);
    assert.equal(f.bool('no-cache'), true);
    assert.equal(f.number('timeout'), 7);
    assert.equal(f.duration('keep-duration'), 3_600_000_000_000n);
    assert.equal(f.number('keep-storage'), 1.5);
    assert.deepEqual(f.args, ['pos']);
  });
  it('stops at the first positional for global flags, and after --', () => {
    assert.deepEqual(parseFlags(['--timeout', '1', 'du', '-v'], specs, { stopAtPositional: true }).args, [
      'du',
      '-v',
    ]);
    assert.deepEqual(parseFlags(['--', '--no-cache'], specs).args, ['--no-cache']);
    assert.equal(parseFlags([], specs).number('timeout'), 5);
  });
  it('reports errors with Go flag messages', () => {
    assert.throws(() => parseFlags(['--nosuch'], specs), /flag provided but not defined: -nosuch/);
    assert.throws(() => parseFlags(['--output'], specs), /flag needs an argument: -output/);
    assert.throws(() => parseFlags(['--timeout', 'x'], specs), /invalid value "x" for flag -timeout/);
    assert.throws(() => parseFlags(['--no-cache=maybe'], specs), /invalid boolean value/);
  });
});
