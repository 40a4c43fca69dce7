import { createServer } from "node:net";
import { describe, expect, it, vi } from "vitest";
import {
  AckState,
  Backoff,
  Busy,
  GatewayUnreachable,
  RateLimited,
  RecentIds,
  SeqTracker,
  SwitchboardClient,
  tokenExpiry,
  wsUrl,
} from "../src/index.js";

describe("building blocks", () => {
  it("backs off exponentially with jitter, capped, and resets", () => {
    const low = new Backoff(100, 1000, 2, () => 0);
    const high = new Backoff(100, 1000, 2, () => 1);
    expect([1, 2, 3, 4, 5].map(() => high.nextDelay())).toEqual([100, 200, 400, 800, 1000]);
    expect(low.nextDelay()).toBe(50);
    high.reset();
    expect(high.nextDelay()).toBe(100);
  });

  it("remembers the most recent ids only", () => {
    const ids = new RecentIds(2);
    ids.add("a");
    ids.add("b");
    ids.add("a");
    ids.add("c");
    expect([ids.has("a"), ids.has("b"), ids.has("c"), ids.size]).toEqual([true, false, true, 2]);
  });

  it("asks for an ack every half window", () => {
    const acks = new AckState(6);
    expect([acks.processed("1"), acks.processed("2"), acks.processed("3")]).toEqual([false, false, true]);
    expect(acks.take()).toBe("3");
    expect(acks.take()).toBe(null);
  });

  it("classifies a run's seq", () => {
    const seqs = new SeqTracker();
    expect(seqs.check("r", 1, true)).toBe("next");
    expect(seqs.check("r", 2, true)).toBe("next");
    expect(seqs.check("r", 4, true)).toBe("seq_gap");
    expect(seqs.check("q", 3, true)).toBe("next"); // recovered: began before the cursor
    expect(seqs.check("p", 3, false)).toBe("joined_mid_run");
    expect(seqs.catchUp("z", 5)).toBe(true);
    expect(seqs.check("z", 5, false)).toBe("covered");
    expect(seqs.check("z", 6, false)).toBe("next");
    expect(seqs.catchUp("z", 6)).toBe(false);
  });

  it("reads a JWT's expiry and builds the socket URL", () => {
    const token = `h.${btoa(JSON.stringify({ exp: 1700000000 })).replace(/=+$/, "")}.s`;
    expect(tokenExpiry(token)).toBe(1_700_000_000_000);
    expect(tokenExpiry("garbage")).toBe(null);
    expect(wsUrl("https://h:1/base/", "s 1", "c", "client")).toBe(
      "wss://h:1/base/ai/ws/s%201?client_id=c&ack=client",
    );
  });
});

describe("REST", () => {
  function client(responses: Response[], tokenProvider?: () => string) {
    const calls: { url: string; init: RequestInit }[] = [];
    const fetch = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(url), init: init ?? {} });
      return responses.shift()!;
    });
    const sb = new SwitchboardClient("http://gw/", {
      token: "t1",
      tokenProvider,
      fetch: fetch as unknown as typeof globalThis.fetch,
      WebSocket: class {} as never,
    });
    return { sb, calls };
  }
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers });

  it("sends a message with onBusy and the device's id", async () => {
    const { sb, calls } = client([json(202, { message_id: "m", run_id: "r" })]);
    const accepted = await sb.sendMessage("s1", "hi", { onBusy: "enqueue", clientId: "tab" });
    expect(accepted).toEqual({ message_id: "m", run_id: "r" });
    expect(calls[0]!.url).toBe("http://gw/ai/sessions/s1/message");
    expect(JSON.parse(String(calls[0]!.init.body))).toEqual({ content: "hi", metadata: {}, on_busy: "enqueue" });
    expect(calls[0]!.init.headers).toMatchObject({ Authorization: "Bearer t1", "X-Client-Id": "tab" });
  });

  it("cancel resolves to the cancelled run's id", async () => {
    const { sb, calls } = client([json(202, { run_id: "r1" })]);
    expect(await sb.cancel("s1")).toBe("r1");
    expect(calls[0]!.url).toBe("http://gw/ai/sessions/s1/cancel");
  });

  it("maps error envelopes to typed errors", async () => {
    const { sb } = client([
      json(409, { error: { code: "run_active", message: "busy" } }),
      json(429, { error: { code: "rate_limited", message: "slow" } }, { "Retry-After": "3" }),
    ]);
    const busy = await sb.sendMessage("s1", "x").catch((e) => e);
    expect(busy).toBeInstanceOf(Busy);
    expect(busy.code).toBe("run_active");
    const limited = await sb.cancel("s1").catch((e) => e);
    expect(limited).toBeInstanceOf(RateLimited);
    expect(limited.retryAfter).toBe(3);
  });

  it("retries once with a new token after a 401", async () => {
    const { sb, calls } = client(
      [json(401, { error: { code: "unauthorized", message: "" } }), json(200, { items: [], next_cursor: null })],
      () => "t2",
    );
    await sb.listSessions({ status: "active", limit: 5 });
    expect(calls.map((c) => (c.init.headers as Record<string, string>).Authorization)).toEqual([
      "Bearer t1",
      "Bearer t2",
    ]);
    expect(calls[1]!.url).toBe("http://gw/ai/sessions?status=active&limit=5");
  });

  it("abandons a request when its signal aborts", async () => {
    const controller = new AbortController();
    const fetch = vi.fn(
      (_url: string | URL | Request, init?: RequestInit) =>
        new Promise<Response>((_, reject) => {
          if (init?.signal?.aborted) reject(init.signal.reason); // as fetch does
          init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
        }),
    );
    const sb = new SwitchboardClient("http://gw", {
      token: "t",
      fetch: fetch as unknown as typeof globalThis.fetch,
      WebSocket: class {} as never,
    });
    const pending = sb.getSession("s1", { signal: controller.signal });
    controller.abort(new Error("user left"));
    await expect(pending).rejects.toThrow("user left");
  });

  it("a stopped gateway is one line naming it", async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    const { port } = server.address() as { port: number };
    await new Promise((done) => server.close(done)); // nothing listens there now
    const url = `http://127.0.0.1:${port}`;
    const sb = new SwitchboardClient(url + "/", { token: "t", WebSocket: class {} as never });
    const failed = await sb.createSession().catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(GatewayUnreachable);
    const message = (failed as Error).message;
    expect(message.startsWith(`cannot reach the gateway at ${url}: `)).toBe(true);
    expect(message).not.toContain("\n");
    await expect(SwitchboardClient.devToken("alice", url)).rejects.toThrow(GatewayUnreachable);
  });

  it("pages through the history, newest page first", async () => {
    const message = (seq: number) => ({ id: `m${seq}`, seq });
    const { sb, calls } = client([
      json(200, { messages: [message(3), message(4)], messages_before: 3 }),
      json(200, { messages: [message(1), message(2)], messages_before: null }),
    ]);
    const pages = [];
    for await (const page of sb.history("s1", 2)) pages.push(page.map((m) => m.seq));
    expect(pages).toEqual([[3, 4], [1, 2]]);
    expect(calls[1]!.url).toBe("http://gw/ai/sessions/s1?messages_limit=2&before=3");
  });
});
