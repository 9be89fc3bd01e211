import { isIP } from 'node:net';

/** A bad EXPOSE port or STOPSIGNAL value; internal, reported as a DockerfileError at the instruction. */
export class ConfigValueError extends Error {}

const portPattern = /^\d+$/;

function portRange(spec: string): [number, number] | undefined {
  const parse = (s: string): number | undefined => {
    if (!portPattern.test(s)) return undefined;
    const n = Number(s);
    return n <= 65535 ? n : undefined;
  };
  if (spec === '') return undefined;
  if (!spec.includes('-')) {
    const p = parse(spec);
    return p === undefined ? undefined : [p, p];
  }
  const [a = '', b = ''] = spec.split('-');
  const start = parse(a);
  const end = parse(b);
  if (start === undefined || end === undefined || end < start) return undefined;
  return [start, end];
}

/**
 * Parses EXPOSE values into `port/proto` keys like docker/go-connections' ParsePortSpecs:
 * `80`, `80/udp`, `8000-8002/tcp` (expanded to single ports), `ip:hostPort:containerPort`.
 * Throws ConfigValueError with its messages (`Invalid containerPort: x`, `Invalid proto: x`).
 */
export function parsePortSpecs(specs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of specs) {
    const parts = raw.split(':');
    const container = parts[parts.length - 1]!;
    const host = parts.length >= 2 ? parts[parts.length - 2]! : '';
    const ip = parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
    const slash = container.split('/');
    const port = container === '' || slash[0] === '' ? '' : slash[0]!;
    const proto =
      container === '' || slash[0] === '' ? '' : slash.length === 1 || slash[1] === '' ? 'tcp' : slash[1]!;
    const bareIP = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
    if (bareIP !== '' && isIP(bareIP) === 0) throw new ConfigValueError(`Invalid ip address: ${bareIP}`);
    if (port === '') throw new ConfigValueError(`No port specified: ${raw}<empty>`);
    const range = portRange(port);
    if (!range) throw new ConfigValueError(`Invalid containerPort: ${port}`);
    if (host !== '') {
      const hostRange = portRange(host);
      if (!hostRange) throw new ConfigValueError(`Invalid hostPort: ${host}`);
      if (range[1] - range[0] !== hostRange[1] - hostRange[0] && range[1] !== range[0]) {
        throw new ConfigValueError(
          `Invalid ranges specified for container and host Ports: ${port} and ${host}`,
        );
      }
    }
    const lower = proto.toLowerCase();
    if (lower !== 'tcp' && lower !== 'udp' && lower !== 'sctp')
      throw new ConfigValueError(`Invalid proto: ${proto}`);
    for (let p = range[0]; p <= range[1]; p++) out.add(`${p}/${lower}`);
  }
  return [...out];
}

const signalNames = new Set([
  'ABRT',
  'ALRM',
  'BUS',
  'CHLD',
  'CLD',
  'CONT',
  'FPE',
  'HUP',
  'ILL',
  'INT',
  'IO',
  'IOT',
  'KILL',
  'PIPE',
  'POLL',
  'PROF',
  'PWR',
  'QUIT',
  'SEGV',
  'STKFLT',
  'STOP',
  'SYS',
  'TERM',
  'TRAP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'USR1',
  'USR2',
  'VTALRM',
  'WINCH',
  'XCPU',
  'XFSZ',
  'RTMIN',
  'RTMAX',
  ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

/**
 * Validates a STOPSIGNAL value as moby's ParseSignal does on Linux: a non-zero number, or a signal
 * name with or without `SIG` in any case. Throws ConfigValueError(`invalid signal: x`).
 */
export function checkSignal(value: string): void {
  if (/^[+-]?\d+$/.test(value)) {
    if (Number(value) === 0 || Math.abs(Number(value)) > 2 ** 63)
      throw new ConfigValueError(`invalid signal: ${value}`);
    return;
  }
  const upper = value.toUpperCase();
  const name = upper.startsWith('SIG') ? upper.slice(3) : upper;
  if (!signalNames.has(name)) throw new ConfigValueError(`invalid signal: ${value}`);
}
