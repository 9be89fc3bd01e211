import { GoStruct, goJson } from '../format/go-json.js';
import type { SolveStatus } from './solve-status.js';

const f = (name: string, json: string, value: unknown, omitEmpty = true) => ({
  name,
  json,
  value,
  omitEmpty,
});

/**
 * One SolveStatus as a line of `--progress rawjson`: BuildKit's client.SolveStatus through Go's
 * encoding/json with its JSON names (`vertexes`, `statuses`, `logs`, `warnings`; `digest`,
 * `started`, …), empty fields left out, log data base64.
 */
export function rawJsonLine(status: SolveStatus): string {
  const value = new GoStruct([
    f(
      'Vertexes',
      'vertexes',
      status.vertexes.map(
        (v) =>
          new GoStruct([
            f('Digest', 'digest', v.digest),
            f('Inputs', 'inputs', v.inputs),
            f('Name', 'name', v.name),
            f('Started', 'started', v.started),
            f('Completed', 'completed', v.completed),
            f('Cached', 'cached', v.cached),
            f('Error', 'error', v.error),
            f(
              'ProgressGroup',
              'progressGroup',
              v.progressGroup &&
                new GoStruct([
                  f('Id', 'id', v.progressGroup.id),
                  f('Name', 'name', v.progressGroup.name),
                  f('Weak', 'weak', v.progressGroup.weak),
                ]),
            ),
          ]),
      ),
    ),
    f(
      'Statuses',
      'statuses',
      status.statuses.map(
        (s) =>
          new GoStruct([
            f('ID', 'id', s.id, false),
            f('Vertex', 'vertex', s.vertex),
            f('Name', 'name', s.name),
            f('Total', 'total', s.total),
            f('Current', 'current', s.current, false),
            f('Timestamp', 'timestamp', s.timestamp, false),
            f('Started', 'started', s.started),
            f('Completed', 'completed', s.completed),
          ]),
      ),
    ),
    f(
      'Logs',
      'logs',
      status.logs.map(
        (l) =>
          new GoStruct([
            f('Vertex', 'vertex', l.vertex),
            f('Stream', 'stream', l.stream),
            f('Data', 'data', l.data, false),
            f('Timestamp', 'timestamp', l.timestamp, false),
          ]),
      ),
    ),
    f(
      'Warnings',
      'warnings',
      status.warnings.map(
        (w) =>
          new GoStruct([
            f('Vertex', 'vertex', w.vertex),
            f('Level', 'level', w.level),
            f('Short', 'short', w.short.length ? w.short : undefined),
            f('Detail', 'detail', w.detail),
            f('URL', 'url', w.url),
            f(
              'SourceInfo',
              'sourceInfo',
              w.sourceInfo &&
                new GoStruct([
                  f('Filename', 'filename', w.sourceInfo.filename),
                  f('Data', 'data', w.sourceInfo.data.length ? w.sourceInfo.data : undefined),
                  f('Language', 'language', w.sourceInfo.language),
                ]),
            ),
            f(
              'Range',
              'range',
              w.ranges.map(
                (r) =>
                  new GoStruct([
                    f('Start', 'start', position(r.start), false),
                    f('End', 'end', position(r.end), false),
                  ]),
              ),
            ),
          ]),
      ),
    ),
  ]);
  return goJson(value, { escapeHtml: true }) + '\n';
}

function position(p: { line: number; character: number }): GoStruct {
  return new GoStruct([f('Line', 'line', p.line), f('Character', 'character', p.character)]);
}
