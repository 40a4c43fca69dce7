/** Typed callbacks of a stream: one list per event type (`state` is the agent's state event),
 * plus `*`, `catch_up`, `reload`, `frame`, `connection` (the stream's state) and `closed`. A listener that throws is reported and does not stop others. */
import type {
  ControlFrame,
  EventOf,
  EventType,
  ReloadNotice,
  RunCatchUp,
  StreamItem,
  StreamState,
} from "./types.js";

/** A promise it returns is awaited before the item counts as processed. */
export type Listener<T> = (value: T) => unknown;

export type StreamEvents = { [K in EventType]: EventOf<K> } & {
  "*": StreamItem;
  catch_up: RunCatchUp;
  reload: ReloadNotice;
  frame: ControlFrame;
  connection: StreamState;
  closed: Error | null;
};

export class Listeners {
  private readonly byName = new Map<string, Set<Listener<never>>>();

  add<K extends keyof StreamEvents>(name: K, listener: Listener<StreamEvents[K]>): () => void {
    let set = this.byName.get(name);
    if (!set) this.byName.set(name, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => void set.delete(listener as Listener<never>);
  }

  /** Call the item's listeners (its type's, then `*`), awaiting any promise they return. */
  async dispatch(item: StreamItem): Promise<void> {
    await this.call(item.type, item);
    await this.call("*", item);
  }

  async control(message: ControlFrame): Promise<void> {
    if (message.type === "error") {
      console.warn(`switchboard: gateway error frame: ${message.code} ${message.message}`);
    }
    await this.call("frame", message);
  }

  /** Synchronous notifications (`connection`, `closed`): promises are not awaited. */
  emit<K extends "connection" | "closed">(name: K, value: StreamEvents[K]): void {
    void this.call(name, value);
  }

  private async call(name: string, value: unknown): Promise<void> {
    for (const listener of [...(this.byName.get(name) ?? [])]) {
      try {
        await (listener as Listener<unknown>)(value);
      } catch (error) {
        console.error(`switchboard: a "${name}" listener threw`, error);
      }
    }
  }
}
