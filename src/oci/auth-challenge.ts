/**
 * `WWW-Authenticate` challenges (RFC 7235 §4.1): `Bearer realm="…",service="…",scope="…"`,
 * `Basic realm="…"`. A header may hold several challenges; parameters may be quoted strings
 * with backslash escapes or bare tokens.
 */
export interface AuthChallenge {
  /** Lowercased scheme: `bearer`, `basic`, … */
  readonly scheme: string;
  /** Parameters with lowercased names. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

export function parseAuthChallenges(header: string | readonly string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  if (typeof header !== "string") return header.flatMap((h) => parseAuthChallenges(h));
  const out: { scheme: string; params: Record<string, string> }[] = [];
  let s = header;
  const skip = (): void => {
    s = s.replace(/^[\s,]+/, "");
  };
  skip();
  while (s.length > 0) {
    const scheme = TOKEN.exec(s);
    if (scheme === null) break;
    s = s.slice(scheme[0].length);
    const current = { scheme: scheme[0].toLowerCase(), params: {} as Record<string, string> };
    out.push(current);
    // token68 form (`Basic abc==`) carries no parameters we need; parameters follow otherwise.
    while (true) {
      skip();
      const name = TOKEN.exec(s);
      if (name === null) break;
      const afterName = s.slice(name[0].length).replace(/^\s*/, "");
      if (!afterName.startsWith("=")) break; // the next challenge's scheme
      s = afterName.slice(1).replace(/^\s*/, "");
      let value = "";
      if (s.startsWith('"')) {
        let i = 1;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        s = s.slice(i + 1);
      } else {
        const v = /^[^,\s]*/.exec(s);
        value = v?.[0] ?? "";
        s = s.slice(value.length);
      }
      current.params[name[0].toLowerCase()] = value;
    }
    skip();
  }
  return out;
}
