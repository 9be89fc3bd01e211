import { InvalidFileActionError } from './errors.js';

/**
 * Symbolic modes (`FileActionCopy.modeStr`, Dockerfile `COPY --chmod=u+x`) with the BSD setmode
 * semantics BuildKit uses (umask 0): comma-separated clauses of who (`ugoa`, none meaning all),
 * one or more operators (`+ - =`) each followed by permissions (`rwxXst`) or a copy of another
 * class (`u g o`). `X` counts only with `+` and only for directories or files that had an execute
 * bit before the change. A leading digit makes the whole string an octal mode (up to 07777).
 */
export interface ModeSet {
  /** The permission bits (07777 form) `mode` becomes; `isDir` matters only for `X`. */
  apply(mode: number, isDir: boolean): number;
}

const setId = 0o6000;
const sticky = 0o1000;
const userBits = 0o4700;
const groupBits = 0o2070;
const otherBits = 0o0007;
const standard = 0o6777;
const read = 0o444;
const write = 0o222;
const exec = 0o111;

type Command =
  | { op: '+' | '-' | 'X'; bits: number }
  | { op: 'copy'; from: 'u' | 'g' | 'o'; targets: number; set: boolean; clear: boolean };

/** Parses a symbolic or octal mode. Throws InvalidFileActionError for anything chmod would reject. */
export function parseModeStr(text: string): ModeSet {
  const bad = (): never => {
    throw new InvalidFileActionError({ action: 'copy', reason: `invalid mode ${JSON.stringify(text)}` });
  };
  if (text === '') bad();
  if (/^[0-9]/.test(text)) {
    if (!/^[0-7]+$/.test(text)) bad();
    const value = Number.parseInt(text, 8);
    if (value > 0o7777) bad();
    return compile([
      { op: '-', bits: standard | sticky },
      { op: '+', bits: value },
    ]);
  }
  const commands: Command[] = [];
  const add = (op: '+' | '-' | '=' | 'X', who: number, bits: number): void => {
    if (op === '=') {
      commands.push({ op: '-', bits: who !== 0 ? who : standard });
      op = '+';
    }
    commands.push({ op, bits: who !== 0 ? who & bits : bits });
  };
  const addCopy = (from: 'u' | 'g' | 'o', who: number, op: '+' | '-' | '='): void => {
    const targets = who === 0 ? 0o444 : who & 0o444;
    commands.push({ op: 'copy', from, targets, set: op !== '-', clear: op !== '+' });
  };
  let i = 0;
  for (;;) {
    let who = 0;
    for (; i < text.length && 'augo'.includes(text[i] as string); i++) {
      const c = text[i];
      who |= c === 'a' ? standard : c === 'u' ? userBits : c === 'g' ? groupBits : otherBits;
    }
    if (i >= text.length) bad();
    let equalDone = false;
    // One or more operators with their permissions for this `who`.
    for (;;) {
      const op = text[i++] as string;
      if (op !== '+' && op !== '-' && op !== '=') bad();
      if (op === '=') equalDone = false;
      let perm = 0;
      let permX = 0;
      for (; ; i++) {
        const c = i < text.length ? (text[i] as string) : '';
        if (c === 'r') perm |= read;
        else if (c === 'w') perm |= write;
        else if (c === 'x') perm |= exec;
        else if (c === 'X') {
          if (op === '+') permX = exec;
        } else if (c === 's') {
          if (who === 0 || (who & ~otherBits) !== 0) perm |= setId;
        } else if (c === 't') {
          if (who === 0 || (who & ~otherBits) !== 0) {
            who |= sticky;
            perm |= sticky;
          }
        } else if (c === 'u' || c === 'g' || c === 'o') {
          if (perm !== 0) add(op as '+' | '-' | '=', who, perm);
          perm = 0;
          if (op === '=') equalDone = true;
          if (permX !== 0) add('X', who, permX);
          permX = 0;
          addCopy(c, who, op as '+' | '-' | '=');
        } else {
          if (perm !== 0 || (op === '=' && !equalDone)) {
            if (op === '=') equalDone = true;
            add(op as '+' | '-' | '=', who, perm);
          }
          if (permX !== 0) add('X', who, permX);
          break;
        }
      }
      who &= ~sticky;
      if (i >= text.length || text[i] === ',') break;
    }
    if (i >= text.length) break;
    i++; // the comma; a clause must follow it
  }
  return compile(commands);
}

function compile(commands: readonly Command[]): ModeSet {
  return {
    apply(mode: number, isDir: boolean): number {
      const original = mode & 0o7777;
      let next = original;
      for (const c of commands) {
        if (c.op === 'copy') {
          const shift = c.from === 'u' ? 6 : c.from === 'g' ? 3 : 0;
          const value = (next >> shift) & 7;
          const clear = c.set ? 7 : value;
          for (const [flag, s] of [
            [0o400, 6],
            [0o040, 3],
            [0o004, 0],
          ] as const) {
            if ((c.targets & flag) === 0) continue;
            if (c.clear) next &= ~(clear << s);
            if (c.set) next |= value << s;
          }
        } else if (c.op === '+') next |= c.bits;
        else if (c.op === '-') next &= ~c.bits;
        else if ((original & exec) !== 0 || isDir) next |= c.bits;
      }
      return next & 0o7777;
    },
  };
}
