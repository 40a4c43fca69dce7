// Switchboard browser client: REST calls and a resumable event stream.
// Same behaviour as the Python SDK: client acks (every half window and when idle),
// dedupe by event id (bounded LRU), jittered exponential backoff, resume from the device
// buffer, seq-hole detection per run (-> onReload), token refresh before expiry.

const FATAL = new Set([4400, 4403, 4404, 4409, 4410, 1009]);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

export async function api(baseUrl, token, method, path, body) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(baseUrl + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = data.error || {};
    throw new ApiError(res.status, err.code || "http_error", err.message || res.statusText);
  }
  return data;
}

export async function devToken(baseUrl, userId) {
  return (await api(baseUrl, null, "POST", "/ai/dev/token", { user_id: userId })).token;
}

export function tokenExpiry(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).exp || null;
  } catch {
    return null;
  }
}

class RecentIds {
  constructor(capacity = 2048) { this.capacity = capacity; this.ids = new Map(); }
  has(id) { return this.ids.has(id); }
  add(id) {
    this.ids.delete(id);
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.keys().next().value);
  }
}

export class Backoff {
  constructor(base = 250, cap = 15000) { this.base = base; this.cap = cap; this.attempt = 0; }
  next() {
    const ceiling = Math.min(this.cap, this.base * 2 ** this.attempt++);
    return Math.min(this.base / 2, ceiling) + Math.random() * Math.max(0, ceiling - this.base / 2);
  }
  reset() { this.attempt = 0; }
}

export class EventStream {
  // handlers: onEvent(event), onState(state, detail), onReload(reason, runId), onFrame(frame)
  constructor({ baseUrl, sessionId, clientId, getToken, refreshToken, ...handlers }) {
    Object.assign(this, { baseUrl, sessionId, clientId, getToken, refreshToken, handlers });
    this.recent = new RecentIds();
    this.lastSeq = new Map();
    this.backoff = new Backoff();
    this.state = "idle";
    this.connects = 0;
    this.pendingAck = null;
    this.pendingCount = 0;
    this.ackEvery = 128;
    this.authFailures = 0;
    this.stopped = false;
  }

  url() {
    const base = this.baseUrl || window.location.origin;
    const u = new URL(`/ai/ws/${encodeURIComponent(this.sessionId)}`, base);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.search = new URLSearchParams({ client_id: this.clientId, ack: "client" }).toString();
    return u.toString();
  }

  setState(state, detail = "") {
    this.state = state;
    this.handlers.onState?.(state, detail);
  }

  connect() {
    this.stopped = false;
    this.setState(this.connects === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: this.getToken() }));
    ws.onmessage = (msg) => this.onFrame(JSON.parse(msg.data));
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
  }

  onFrame(frame) {
    if (frame.type === "connected") return this.onHello(frame);
    if (typeof frame.id !== "string") return this.handlers.onFrame?.(frame);
    const caught = this.caughtUp && frame.run_id === this.caughtUp.run_id && frame.seq <= this.caughtUp.seq;
    if (!this.recent.has(frame.id) && !caught) {
      this.checkSeq(frame);
      this.handlers.onEvent?.(frame);
    }
    this.processed(frame.id);
  }

  onHello(hello) {
    const reconnect = this.connects > 0;
    this.connects += 1;
    this.resumed = !!hello.resumed;
    this.ackEvery = Math.max(1, Math.floor((hello.ack_window || 256) / 2));
    this.backoff.reset();
    this.authFailures = 0;
    this.setState(reconnect && this.resumed ? "resumed" : "live");
    // catch-up: the run so far; its events up to active_run.seq are already in it (skipped)
    this.caughtUp = hello.active_run || null;
    if (this.caughtUp) this.lastSeq.set(this.caughtUp.run_id, this.caughtUp.seq);
    if (reconnect && !this.resumed) this.handlers.onReload?.("buffer_expired", null);
    if (this.caughtUp) this.handlers.onCatchUp?.(this.caughtUp);
    this.scheduleRefresh();
  }

  checkSeq(ev) {
    if (!ev.run_id || !ev.seq) return;
    const last = this.lastSeq.get(ev.run_id);
    const hole = last === undefined ? ev.seq > 1 && this.resumed : ev.seq > last + 1;
    this.lastSeq.set(ev.run_id, Math.max(ev.seq, last || 0));
    if (this.lastSeq.size > 256) this.lastSeq.delete(this.lastSeq.keys().next().value);
    if (hole) this.handlers.onReload?.("seq_gap", ev.run_id);
  }

  processed(id) {
    this.recent.add(id);
    this.pendingAck = id;
    this.pendingCount += 1;
    clearTimeout(this.ackTimer);
    if (this.pendingCount >= this.ackEvery) this.flushAck();
    else this.ackTimer = setTimeout(() => this.flushAck(), 150);
  }

  flushAck() {
    if (!this.pendingAck || this.ws?.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ type: "ack", id: this.pendingAck }));
    this.pendingAck = null;
    this.pendingCount = 0;
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const exp = tokenExpiry(this.getToken());
    if (!exp || !this.refreshToken) return;
    const left = exp * 1000 - Date.now();
    const wait = Math.max(0, left - Math.min(30000, left / 2));
    this.refreshTimer = setTimeout(async () => {
      const token = await this.refreshToken();
      this.send({ type: "refresh", token });
      this.scheduleRefresh();
    }, wait);
  }

  async onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    clearTimeout(this.refreshTimer);
    clearTimeout(this.ackTimer);
    if (this.stopped) return this.setState("closed");
    if (FATAL.has(code)) return this.setState("closed", `${code} ${reason || ""}`.trim());
    if (code === 4401) {
      if (!this.refreshToken || this.authFailures++ >= 3) return this.setState("closed", "4401");
      await this.refreshToken();
      return this.connect();
    }
    this.setState("reconnecting", String(code));
    setTimeout(() => !this.stopped && this.connect(), this.backoff.next());
  }

  send(frame) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // For tests and demos: drop the socket as a network failure would, and reconnect.
  drop() { this.ws?.close(4000, "dropped by test hook"); }

  close() {
    this.stopped = true;
    this.flushAck();
    this.ws?.close(1000);
  }
}
