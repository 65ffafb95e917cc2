/**
 * Bearer tokens from a token server (distribution auth/token.md), cached per
 * realm + service + scope until shortly before they expire. `expires_in` defaults to 60 s.
 */
export interface CachedToken {
  readonly token: string;
  /** Epoch milliseconds after which the token must not be used. */
  readonly expiresAt: number;
}

/** Default lifetime the spec assumes when the server gives none. */
export const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Tokens are dropped this long before their stated expiry, to absorb clock skew and latency. */
const EXPIRY_MARGIN_MS = 10_000;

export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** `identity` (the user name, "" for anonymous) keeps tokens of different accounts apart in a shared cache. */
  static key(realm: string, service: string | undefined, scope: string | undefined, identity = ""): string {
    return JSON.stringify([realm, service ?? "", scope ?? "", identity]);
  }

  get(key: string): string | undefined {
    const t = this.#tokens.get(key);
    if (t === undefined) return undefined;
    if (this.#now() >= t.expiresAt) {
      this.#tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  /**
   * Store a token. `expiresInS` and `issuedAt` come from the token response; a lifetime shorter
   * than the margin still lets the token be used once, for the request that asked for it.
   */
  set(key: string, token: string, expiresInS: number | undefined, issuedAt?: string): void {
    const lifetime =
      expiresInS !== undefined && Number.isFinite(expiresInS) && expiresInS > 0
        ? expiresInS
        : DEFAULT_TOKEN_LIFETIME_S;
    let start = this.#now();
    if (issuedAt !== undefined) {
      const t = Date.parse(issuedAt);
      // Trust the server's issue time only when it is not in our future.
      if (Number.isFinite(t) && t < start) start = t;
    }
    this.#tokens.set(key, { token, expiresAt: start + lifetime * 1000 - EXPIRY_MARGIN_MS });
  }

  delete(key: string): void {
    this.#tokens.delete(key);
  }
}
