/**
 * The one redaction rule for text that leaves gvmconv: error messages and hints (every
 * `GvmconvError` passes its text through here when it is built), the registry details an error
 * keeps, and the stacks `--debug` prints. Registries may echo what they were sent — the
 * Authorization header, the Basic credentials, the bearer token, the password given to a token
 * server — in an error body or a header, and those end up in messages.
 *
 * Two layers:
 * - exact values: every secret this process was given or handed (passwords, personal access
 *   tokens, bearer tokens, Authorization header values and their Basic base64) is remembered by
 *   the code that uses it (`rememberSecret`) and replaced by `***` wherever it appears, also in
 *   its URL- and JSON-escaped forms. Process-wide on purpose: a secret one client learnt must not
 *   come out of another's error. Values shorter than 4 characters are not remembered (they would
 *   blank out ordinary words), and the set keeps the latest 512 (tokens are renewed often).
 * - patterns, for credentials never seen: `Bearer …`/`Basic …`, `Authorization: …`,
 *   `password=…`/`"token":"…"` fields, and `user:password@` in URLs.
 */

const MIN_SECRET_LENGTH = 4;
const MAX_SECRETS = 512;
const MASK = "***";

const secrets = new Set<string>();
let longestFirst: string[] | undefined;

/** Remember a secret (and its escaped forms) so that no later message can carry it. */
export function rememberSecret(value: string | undefined): void {
  if (value === undefined || value.length < MIN_SECRET_LENGTH) return;
  for (const form of [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) {
    if (form.length < MIN_SECRET_LENGTH) continue;
    secrets.delete(form);
    secrets.add(form);
  }
  while (secrets.size > MAX_SECRETS) {
    const oldest = secrets.values().next().value;
    if (oldest === undefined) break;
    secrets.delete(oldest);
  }
  longestFirst = undefined;
}

/** Remember the Basic credentials `user:password`: the password, and the header value's base64. */
export function rememberBasicCredentials(username: string, password: string): string {
  const b64 = Buffer.from(`${username}:${password}`).toString("base64");
  rememberSecret(password);
  rememberSecret(b64);
  return b64;
}

const PATTERNS: [RegExp, string][] = [
  // A header as text: `Authorization: Bearer abc`, `"authorization":"Basic abc"`.
  [
    /\b((?:proxy-)?authorization|x-registry-auth)(["']?\s*[:=]\s*["']?)(?:(?:bearer|basic)\s+)?[^\s"',;}]+/gi,
    `$1$2${MASK}`,
  ],
  // An auth scheme and its credentials anywhere.
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/-]{4,}=*/gi, `$1 ${MASK}`],
  // Form and JSON fields: `password=…`, `"token": "…"`, `refresh_token=…`.
  [
    /\b(password|passwd|secret|token|access_token|refresh_token|identitytoken|identity_token)(["']?\s*[:=]\s*["']?)[^\s"'&,;}]+/gi,
    `$1$2${MASK}`,
  ],
  // `scheme://user:password@host`.
  [/(\/\/[^\s/:@]+:)[^\s/@]+@/g, `$1${MASK}@`],
];

/** `text` with every remembered secret and every credential-looking pattern replaced by `***`. */
export function redactSecrets(text: string): string {
  let out = text;
  if (secrets.size > 0) {
    longestFirst ??= [...secrets].sort((a, b) => b.length - a.length);
    for (const s of longestFirst) if (out.includes(s)) out = out.split(s).join(MASK);
  }
  for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
  return out;
}
