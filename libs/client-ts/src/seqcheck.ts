/** Per-run `seq` tracking: what each run event means for this device's view of its run. */

/** `next`: show it. `covered`: a catch-up already holds it (skip it). `seq_gap`: events before
 * it were lost. `joined_mid_run`: the device's first event of a run that began before it joined. */
export type Verdict = "next" | "covered" | "seq_gap" | "joined_mid_run";

export class SeqTracker {
  /** run_id → [last seq seen, seq up to which a catch-up covers the run], oldest first. */
  private readonly runs = new Map<string, [number | null, number]>();
  constructor(readonly capacity = 256) {}

  /** Classify event `seq` of `runId` and record it. `recovered`: the connection continues
   * after this device's cursor, gapless, so a run first seen mid-way began before the cursor
   * (a stream started from a saved cursor: the app handled its start) and is `next`; on a
   * connection that is not recovered it began before the device joined (`joined_mid_run`). */
  check(runId: string, seq: number, recovered: boolean): Verdict {
    const [last, floor] = this.runs.get(runId) ?? [null, 0];
    if (seq <= floor) return "covered";
    this.store(runId, Math.max(seq, last ?? 0), floor);
    if (last === null) {
      if (seq === 1) return "next";
      return recovered ? "next" : "joined_mid_run";
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
