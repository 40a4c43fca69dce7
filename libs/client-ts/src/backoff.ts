/** Reconnect delays: exponential growth with full jitter, reset after a good connection. */
export class Backoff {
  attempt = 0;
  constructor(
    readonly baseMs = 250,
    readonly capMs = 15_000,
    readonly factor = 2,
    private readonly random: () => number = Math.random,
  ) {}

  /** Uniform in [base/2, min(cap, base * factor ** attempt)]. */
  nextDelay(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * this.factor ** this.attempt);
    const floor = Math.min(this.baseMs / 2, ceiling);
    this.attempt += 1;
    return floor + (ceiling - floor) * this.random();
  }

  reset(): void {
    this.attempt = 0;
  }
}
