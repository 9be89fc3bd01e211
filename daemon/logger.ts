import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

const levelNames: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Renders pino's JSON lines as `time LEVEL msg key=value …` for humans. */
function textDestination(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) out.write(formatLine(line));
      }
      callback();
    },
  });
}

function formatLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${line}\n`;
  }
  const { time, level, msg, pid: _pid, hostname: _hostname, err, ...rest } = record;
  const fields = Object.entries(rest).map(
    ([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v)}`,
  );
  const errText =
    err && typeof err === 'object' && 'message' in err
      ? ` error=${JSON.stringify((err as { message: string }).message)}`
      : '';
  const when = new Date(typeof time === 'number' ? time : Date.now()).toISOString();
  return `${when} ${levelNames[level as number] ?? level} ${String(msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}${errText}\n`;
}

export function createLogger(options: { format: 'text' | 'json'; debug: boolean }): Logger {
  const level = options.debug ? 'debug' : 'info';
  if (options.format === 'json') return pino({ level, base: { pid: process.pid } }, pino.destination(2));
  return pino({ level, base: undefined }, textDestination(process.stderr));
}
