/** The current access token, its expiry, and how to get a new one. */

/** Returns a fresh token (sync or async); called before expiry and after a 401/4401. */
export type TokenProvider = () => string | Promise<string>;

/** The `exp` claim of a JWT in milliseconds, read without verifying (the server verifies). */
export function tokenExpiry(token: string): number | null {
  try {
    const part = token.split(".")[1];
    if (!part) return null;
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const claims: unknown = JSON.parse(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export class TokenSource {
  constructor(
    private token: string | null,
    readonly provider: TokenProvider | null = null,
  ) {
    if (token === null && provider === null) throw new TypeError("give a token or a tokenProvider");
  }

  get canRefresh(): boolean {
    return this.provider !== null;
  }

  async get(): Promise<string> {
    return this.token ?? this.refresh();
  }

  async refresh(): Promise<string> {
    if (this.provider === null) throw new Error("no tokenProvider to refresh the token with");
    const token = await this.provider();
    if (typeof token !== "string" || !token) throw new TypeError("tokenProvider returned no token");
    this.token = token;
    return token;
  }

  /** Milliseconds until the token expires (null when unknown). */
  msLeft(now = Date.now()): number | null {
    const exp = this.token ? tokenExpiry(this.token) : null;
    return exp === null ? null : exp - now;
  }
}
