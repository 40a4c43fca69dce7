/** Per-run `seq` tracking: what each run event means for this device's view of its run. */

/** `next`: show it. `covered`: a catch-up already holds it (skip it). `seq_gap`: events before
 * it were lost. `joined_mid_run`: the device's first event of a run that began before it joined. */
export type Verdict = "next" | "covered" | "seq_gap" | "joined_mid_run";

export class SeqTracker {
  /** run_id → [last seq seen, seq up to which a catch-up covers the run], oldest first. */
  private readonly runs = new Map<string, [number | null, number]>();
  constructor(readonly capacity = 256) {}

  /** Classify event `seq` of `runId` and record it. A run first seen mid-way on a resumed
   * buffer lost its start (`seq_gap`); on a fresh buffer it began before the device joined. */
  check(runId: string, seq: number, resumed: boolean): Verdict {
    const [last, floor] = this.runs.get(runId) ?? [null, 0];
    if (seq <= floor) return "covered";
    this.store(runId, Math.max(seq, last ?? 0), floor);
    if (last === null) {
      if (seq === 1) return "next";
      return resumed ? "seq_gap" : "joined_mid_run";
    }
    return seq > last + 1 ? "seq_gap" : "next";
  }

  /** A catch-up holds `runId` up to `seq`: its events up to there are `covered` from now on.
   * True when that is news (this device had not seen the run that far). */
  catchUp(runId: string, seq: number): boolean {
    const [last, floor] = this.runs.get(runId) ?? [null, 0];
    this.store(runId, Math.max(seq, last ?? 0), Math.max(seq, floor));
    return last === null || last < seq;
  }

  private store(runId: string, last: number, floor: number): void {
    this.runs.delete(runId);
    this.runs.set(runId, [last, floor]);
    while (this.runs.size > this.capacity) {
      this.runs.delete(this.runs.keys().next().value as string);
    }
  }
}
