/** When to ack: every half window (that alone guarantees progress), and on close. */
export class AckState {
  readonly every: number;
  pendingId: string | null = null;
  pendingCount = 0;
  constructor(window = 256) {
    this.every = Math.max(1, Math.floor(window / 2));
  }

  /** Record a processed event; true when an ack is due now (half a window). */
  processed(id: string): boolean {
    this.pendingId = id;
    this.pendingCount += 1;
    return this.pendingCount >= this.every;
  }

  /** The id to ack (cumulative), clearing the pending state. */
  take(): string | null {
    const id = this.pendingId;
    this.pendingId = null;
    this.pendingCount = 0;
    return id;
  }
}
