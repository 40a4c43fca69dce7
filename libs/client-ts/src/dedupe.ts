/** Bounded memory of recently processed event ids (at-least-once delivery, exactly-once view). */
export class RecentIds {
  private readonly ids = new Set<string>();
  constructor(readonly capacity = 4096) {
    if (capacity < 1) throw new RangeError("capacity must be at least 1");
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }

  add(id: string): void {
    this.ids.delete(id);
    this.ids.add(id);
    while (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value as string;
      this.ids.delete(oldest);
    }
  }
}
