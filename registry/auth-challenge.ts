/** One challenge of a `WWW-Authenticate` header: the scheme (lowercased) and its parameters. */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses a `WWW-Authenticate` value (RFC 7235): several challenges separated by commas, each a
 * scheme followed by `name=value` or `name="quoted, \"value\""` parameters. Registries put commas
 * inside quoted scopes (`scope="repository:a:pull,push"`), so a plain split would break them.
 * Unparseable tails are ignored rather than thrown: a challenge is a hint, the 401 is the fact.
 */
export function parseChallenges(header: string): AuthChallenge[] {
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  let rest = header;
  const skip = (): void => {
    rest = rest.replace(/^[\s,]+/, '');
  };
  for (skip(); rest.length > 0; skip()) {
    const name = token.exec(rest)?.[0];
    if (!name) break;
    rest = rest.slice(name.length);
    const afterSpace = rest.replace(/^\s+/, '');
    if (afterSpace.startsWith('=') && challenges.length > 0) {
      // A parameter of the current challenge.
      rest = afterSpace.slice(1).replace(/^\s+/, '');
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
          i++;
        }
        rest = rest.slice(i + 1);
      } else {
        // Lenient: real registries send unquoted URLs, which are not RFC tokens.
        value = /^[^\s,]*/.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      challenges[challenges.length - 1]!.params[name.toLowerCase()] = value;
      continue;
    }
    challenges.push({ scheme: name.toLowerCase(), params: {} });
    rest = afterSpace;
  }
  return challenges;
}
