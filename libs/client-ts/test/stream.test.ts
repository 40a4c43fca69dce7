import { describe, expect, it, vi } from "vitest";
import {
  Backoff,
  SessionNotFound,
  SwitchboardClient,
  type StreamItem,
  type StreamOptions,
} from "../src/index.js";
import { event, FakeGateway, runEvents, until } from "./fake.js";

const SESSION = {
  id: "s1",
  messages: [{ id: "m", seq: 1, role: "assistant", content: "stored", run_id: "r1" }],
  active_run: null,
  messages_before: null,
};

function setup(options: StreamOptions = {}, clientOptions: { tokenProvider?: () => string } = {}) {
  const gateway = new FakeGateway();
  const fetches: string[] = [];
  const fetch = vi.fn(async (url: string | URL | Request) => {
    fetches.push(String(url));
    return new Response(JSON.stringify(SESSION), { status: 200 });
  });
  const client = new SwitchboardClient("http://gw", {
    token: "tok-1",
    WebSocket: gateway.WebSocket,
    fetch: fetch as unknown as typeof globalThis.fetch,
    ...clientOptions,
  });
  const stream = client.events("s1", {
    clientId: "c1",
    options: { ackDelayMs: null, backoff: new Backoff(1, 5), ...options },
  });
  return { gateway, client, stream, fetches };
}

/** Reads items until `stop` says so (the item that stops is included). */
async function collect(stream: AsyncIterable<StreamItem>, stop: (item: StreamItem) => boolean) {
  const items: StreamItem[] = [];
  for await (const item of stream) {
    items.push(item);
    if (stop(item)) break;
  }
  return items;
}

const isEnd = (item: StreamItem) => item.type === "run_end";
const tokens = (items: StreamItem[]) =>
  items.flatMap((i) => (i.type === "token" ? [i.data.token] : [])).join("");
const expected = (n: number) => Array.from({ length: n }, (_, i) => `t${i + 1} `).join("");

describe("EventStream against a fake gateway", () => {
  it("authenticates with the first frame, then streams events in order", async () => {
    const { gateway, stream } = setup();
    await stream.open();
    expect(gateway.sockets[0]!.sent[0]).toEqual({ type: "auth", token: "tok-1" });
    expect(gateway.sockets[0]!.url).toBe("ws://gw/ai/ws/s1?client_id=c1&ack=client");
    expect(stream.state).toBe("live");
    gateway.publish(...runEvents("r1", 5));
    const items = await collect(stream, isEnd);
    expect(items.map((i) => i.type)).toEqual(["run_start", ...Array(5).fill("token"), "run_end"]);
    expect(tokens(items)).toBe(expected(5));
  });

  it("passes an agent's state events through, snapshot then delta", async () => {
    const { gateway, stream } = setup();
    await stream.open();
    const delta = [{ op: "replace", path: "/city", value: "Rome" }];
    gateway.publish(
      event("r1", 1, "run_start", { message_id: "m1" }),
      event("r1", 2, "state", { snapshot: { city: "Oslo" } }),
      event("r1", 3, "state", { delta }),
      event("r1", 4, "run_end"),
    );
    const items = await collect(stream, isEnd);
    const states = items.flatMap((i) => (i.type === "state" ? [i.data] : []));
    expect(states).toEqual([{ snapshot: { city: "Oslo" } }, { delta }]);
  });

  it("acks every half window (harmless in v2: delivery does not wait on acks)", async () => {
    const { gateway, stream } = setup({ ackDelayMs: null });
    gateway.window = 8;
    await stream.open();
    gateway.publish(...runEvents("r1", 1000));
    const items = await collect(stream, isEnd);
    expect(tokens(items)).toBe(expected(1000));
    // 1002 events, an ack every 4, and the last one acked on leaving the loop
    expect(gateway.acks.length).toBe(Math.ceil(1002 / 4));
    expect(gateway.acks.at(-1)).toBe(items.at(-1)!.type === "run_end" && "e-r1-1002-run_end");
    expect(stream.cursor).toBe(gateway.log.at(-1)!.cursor);
  });

  it("acks processed events when the server goes quiet (ackDelayMs)", async () => {
    const { gateway, stream } = setup({ ackDelayMs: 10 });
    await stream.open();
    gateway.publish(event("r1", 1, "run_start"));
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const pending = iterator.next(); // processed the first; now waiting for more
    await until(() => gateway.acks.length === 1);
    expect(gateway.acks).toEqual(["e-r1-1-run_start"]);
    gateway.publish(event("r1", 2, "run_end"));
    await pending;
    await stream.close();
  });

  it("reconnects after a crash with the cursor of the last event handled, and resumes", async () => {
    const { gateway, stream } = setup();
    const states: string[] = [];
    stream.on("connection", (s) => states.push(s));
    await stream.open();
    const run = runEvents("r1", 100);
    gateway.publish(...run.slice(0, 50));
    const items: StreamItem[] = [];
    for await (const item of stream) {
      items.push(item);
      if (items.length === 50) {
        expect(stream.cursor).toBe(gateway.log[48]!.cursor); // the 50th is being handled
        gateway.crash();
        gateway.publish(...run.slice(50)); // published while away
      }
      if (isEnd(item)) break;
    }
    expect(tokens(items)).toBe(expected(100));
    expect(new Set(items.map((i) => (i as { id: string }).id)).size).toBe(items.length);
    expect(gateway.sockets.length).toBe(2);
    expect(gateway.sockets[1]!.sent[0]).toEqual({ type: "auth", token: "tok-1", cursor: gateway.log[49]!.cursor });
    expect(gateway.recovered).toEqual([false, true]);
    expect(states).toEqual(["connecting", "live", "reconnecting", "resumed", "closed"]);
  });

  it("starts from a saved cursor, and drops one the gateway cannot parse", async () => {
    const { gateway, client, stream } = setup();
    await stream.open();
    gateway.publish(...runEvents("r1", 2));
    await collect(stream.values({ keepOpen: true }), (i) => i.type === "token");
    const saved = client.cursor("s1", "c1");
    expect(saved).toBe(gateway.log[1]!.cursor);
    await stream.close();
    const later = client.events("s1", { clientId: "c1", cursor: saved, options: { ackDelayMs: null } });
    const rest = await collect(later, isEnd);
    expect(rest.map((i) => i.type)).toEqual(["token", "run_end"]); // run r1 mid-way: no notice
    await later.close();
    const fresh = client.events("s1", { clientId: "c1", cursor: null, options: { ackDelayMs: null } });
    await fresh.open(); // null: no cursor, though this client's last stream of c1 had one
    expect(gateway.sockets.at(-1)!.sent[0]).toEqual({ type: "auth", token: "tok-1" });
    await fresh.close();
    const bad = client.events("s1", { clientId: "c9", cursor: "not a cursor", options: { ackDelayMs: null } });
    const items: StreamItem[] = [];
    for await (const item of bad) {
      items.push(item);
      if (items.length === 1) gateway.crash(); // after the hello's invalid_cursor frame
      if (items.length === 2) break;
    }
    expect(items.map((i) => i.type)).toEqual(["reload", "reload"]);
    expect(gateway.recovered).toEqual([false, true, false, false, false]);
    expect(gateway.sockets[3]!.sent[0]!.cursor).toBe("not a cursor");
    expect(gateway.sockets[4]!.sent[0]).toEqual({ type: "auth", token: "tok-1" });
  });

  it("reports a hole in a run's seq with a reload notice from REST", async () => {
    const { gateway, stream, fetches } = setup();
    await stream.open();
    gateway.publish(event("r1", 1, "run_start"), event("r1", 2), event("r1", 5), event("r1", 6, "run_end"));
    const items = await collect(stream, isEnd);
    expect(items.map((i) => i.type)).toEqual(["run_start", "token", "reload", "token", "run_end"]);
    const notice = items[2]!;
    expect(notice.type === "reload" && [notice.reason, notice.run_id, notice.response]).toEqual([
      "seq_gap",
      "r1",
      "stored",
    ]);
    expect(fetches).toEqual(["http://gw/ai/sessions/s1"]);
  });

  it("says when a run started before this device joined", async () => {
    const { gateway, stream } = setup();
    await stream.open();
    gateway.publish(event("r1", 7), event("r1", 8, "run_end"));
    const items = await collect(stream, isEnd);
    expect(items[0]!.type === "reload" && items[0]!.reason).toBe("joined_mid_run");
  });

  it("yields the hello's active_run, then only the run's later events", async () => {
    const { gateway, stream } = setup();
    gateway.activeRun = { run_id: "r1", seq: 3, agent_type: "personal", text: "t1 t2 ", tool_calls: [] };
    await stream.open();
    gateway.publish(...runEvents("r1", 4));
    const items = await collect(stream, isEnd);
    expect(items.map((i) => i.type)).toEqual(["catch_up", "token", "token", "run_end"]);
    expect(items[0]!.type === "catch_up" && items[0]!.text + tokens(items)).toBe(expected(4));
    expect(stream.catchUp?.seq).toBe(3);
  });

  it("reloads after a reconnect whose cursor is past retention", async () => {
    const { gateway, stream } = setup();
    await stream.open();
    gateway.publish(event("r1", 1, "run_start"));
    const items: StreamItem[] = [];
    for await (const item of stream) {
      items.push(item);
      if (item.type === "run_start") {
        gateway.expire();
        gateway.crash();
      }
      if (item.type === "reload") break;
    }
    expect(items.map((i) => i.type)).toEqual(["run_start", "reload"]);
    expect(items[1]!.type === "reload" && items[1]!.reason).toBe("buffer_expired");
    expect(gateway.recovered).toEqual([false, false]);
    expect(gateway.sockets[1]!.sent[0]!.cursor).toBe("0.1.0.t1");
  });

  it("stops with a typed error on a fatal close code, and says so to `closed`", async () => {
    const { gateway, stream } = setup();
    const closed: (Error | null)[] = [];
    stream.on("closed", (e) => void closed.push(e));
    gateway.closeNext = [4404];
    await expect(stream.open()).rejects.toBeInstanceOf(SessionNotFound);
    expect(closed.length === 1 && closed[0]).toBeInstanceOf(SessionNotFound);
  });

  it("opens the session's streams before sending, and names the device", async () => {
    const { gateway, client, stream } = setup();
    const order: string[] = [];
    stream.on("connection", (s) => void order.push(s));
    const posted = vi.fn(async (_url: string | URL | Request, init?: RequestInit) => {
      order.push("POST");
      expect((init?.headers as Record<string, string>)["X-Client-Id"]).toBe("c1");
      return new Response(JSON.stringify({ message_id: "m", run_id: "r" }), { status: 202 });
    });
    (client.rest as unknown as { fetchImpl: unknown }).fetchImpl = posted;
    await client.sendMessage("s1", "hi");
    expect(order).toEqual(["connecting", "live", "POST"]);
    expect(gateway.sockets.length).toBe(1);
    await client.close();
    expect(stream.state).toBe("closed");
  });

  it("reconnects on 4408 and 1013, then resumes", async () => {
    const { gateway, stream } = setup();
    gateway.closeNext = [4408, 1013];
    await stream.open();
    expect(gateway.sockets.length).toBe(3);
    await stream.close();
  });

  it("resumes by cursor after a slow-consumer close (4408) with nothing lost", async () => {
    const { gateway, stream } = setup();
    await stream.open();
    const run = runEvents("r1", 6);
    gateway.publish(...run.slice(0, 3));
    const items: StreamItem[] = [];
    for await (const item of stream) {
      items.push(item);
      if (items.length === 3) {
        gateway.crash(4408);
        gateway.publish(...run.slice(3));
      }
      if (isEnd(item)) break;
    }
    expect(tokens(items)).toBe(expected(6));
    expect(gateway.recovered).toEqual([false, true]);
  });

  it("backs off, longer each time, while connects are refused 4429, then connects", async () => {
    const attempts: number[] = [];
    class Recording extends Backoff {
      override nextDelay(): number {
        attempts.push(this.attempt);
        return super.nextDelay();
      }
    }
    const { gateway, stream } = setup({ backoff: new Recording(1, 5) });
    gateway.closeNext = [4429, 4429, 4429]; // connect_rate_limited: past a connect budget
    await stream.open();
    expect(gateway.sockets.length).toBe(4);
    expect(attempts).toEqual([0, 1, 2]); // no reset before a hello
    expect(stream.state).toBe("live");
    await stream.close();
  });

  it("gets a new token after 4401 and sends refresh before expiry", async () => {
    const soon = (s: number) =>
      `h.${btoa(JSON.stringify({ sub: "u", exp: Date.now() / 1000 + s })).replace(/=+$/, "")}.x`;
    let n = 0;
    const fresh = [soon(0.2), soon(3600)];
    const { gateway, stream } = setup(
      { refreshMarginMs: 30_000 },
      { tokenProvider: () => fresh[n++] ?? soon(3600) },
    );
    gateway.closeNext = [4401];
    await stream.open();
    // tok-1 refused; the provider's first token (200 ms left) connected; refresh before expiry
    expect(gateway.tokens).toEqual(["tok-1", fresh[0]]);
    await until(() => gateway.sockets[1]!.sent.some((f) => f.type === "refresh"));
    expect(gateway.sockets[1]!.sent.find((f) => f.type === "refresh")!.token).toBe(fresh[1]);
    await stream.close();
  });

  it("calls typed listeners in start() mode and acks after they return", async () => {
    const { gateway, stream } = setup();
    gateway.window = 4;
    const seen: string[] = [];
    stream.on("token", (e) => void seen.push(e.data.token));
    const ended = new Promise<void>((resolve) => stream.on("run_end", () => resolve()));
    await stream.start();
    gateway.publish(...runEvents("r1", 20));
    await ended;
    expect(seen.join("")).toBe(expected(20));
    await stream.close();
    expect(gateway.acks.at(-1)).toBe("e-r1-22-run_end");
  });

  it("closes on abort, acking the event being handled", async () => {
    const { gateway, stream: _unused, client } = setup();
    const controller = new AbortController();
    const stream = client.events("s1", { clientId: "c2", signal: controller.signal, options: { ackDelayMs: null } });
    await stream.open();
    void _unused;
    gateway.publish(event("r1", 1, "run_start"), event("r1", 2));
    const items: StreamItem[] = [];
    for await (const item of stream) {
      items.push(item);
      controller.abort();
    }
    expect(items.length).toBe(1);
    expect(gateway.acks).toEqual(["e-r1-1-run_start"]);
    expect(stream.state).toBe("closed");
  });

  it("keeps the stream open between loops with values({ keepOpen })", async () => {
    const { gateway, stream } = setup();
    await stream.open();
    gateway.publish(...runEvents("r1", 2), ...runEvents("r2", 3));
    const first = await collect(stream.values({ keepOpen: true }), isEnd);
    const second = await collect(stream.values({ keepOpen: true }), isEnd);
    expect(first.at(-1)!.type === "run_end" && first.at(-1)!.run_id).toBe("r1");
    expect(tokens(second)).toBe(expected(3));
    expect(gateway.sockets.length).toBe(1);
    await stream.close();
  });

  it("sends typing, cancel, messages and tool decisions", async () => {
    const { gateway, stream } = setup();
    await stream.open();
    expect(stream.typing() && stream.cancel() && stream.message("hi")).toBe(true);
    expect(stream.decideTool("c1", false, "no")).toBe(true);
    expect(gateway.sockets[0]!.sent.slice(1)).toEqual([
      { type: "typing" },
      { type: "cancel" },
      { type: "message", content: "hi", metadata: {} },
      { type: "tool_decision", call_id: "c1", approve: false, reason: "no" },
    ]);
    await stream.close();
    expect(stream.typing()).toBe(false);
  });

  it("pings when quiet and reconnects when the link is dead", async () => {
    const { gateway, stream } = setup();
    gateway.heartbeatS = 0.04;
    await stream.start(); // someone must consume the stream for it to reconnect
    await until(() => gateway.sockets[0]!.sent.some((f) => f.type === "ping"));
    expect(gateway.sockets.length).toBe(1); // answered: still the first connection
    gateway.mute = true;
    await until(() => gateway.sockets.length === 2);
    gateway.mute = false;
    await stream.close();
  });

  it("closes at once while connecting", async () => {
    const { gateway, stream } = setup({ helloTimeoutMs: 60_000 });
    gateway.hang = true;
    const opening = stream.open();
    await until(() => gateway.sockets.length === 1);
    await stream.close();
    await opening;
    expect(stream.state).toBe("closed");
  });
});
