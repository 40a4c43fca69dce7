// The conversation: a model (user messages and runs) and its one renderer. Live events
// (`apply`), a catch-up (`catchUp`) and stored history (`load`) all change the same model, and
// every run is drawn from its state by `drawRun`, so a reload shows exactly what the live view
// showed: same tool cards, notices, agent labels, audio line, errors and run states.
import { el } from "./dom.js";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export class Conversation {
  constructor(box, { clientId, onDecide }) {
    this.box = box;
    this.clientId = clientId;
    this.onDecide = onDecide;
    this.reset();
  }

  reset() {
    this.box.replaceChildren();
    this.users = new Map(); // message_id -> user entry
    this.pending = []; // own messages sent, not yet accepted
    this.runs = new Map(); // run_id -> run state
    this.activeRun = null;
    this.ended = null;
  }

  // ---- history ------------------------------------------------------------------------
  load(detail) {
    this.reset();
    const messages = detail.messages || [];
    for (const m of messages) {
      if (m.role === "user") this.addUser(m.id, m.content || (m.metadata?.audio ? "(spoken)" : ""), !!m.client_id && m.client_id !== this.clientId);
    }
    for (const outcome of detail.runs || []) {
      const run = this.run(outcome.id, outcome.message_id);
      Object.assign(run, { status: outcome.status, notices: outcome.notices || [] });
      run.agent = outcome.agent_type || run.agent;
      run.text = outcome.text || "";
      run.seq = TERMINAL.has(outcome.status) ? Infinity : 0;
    }
    for (const m of messages) {
      if (m.role === "assistant" && m.run_id) this.stored(m);
      if (m.role === "tool" && m.run_id && m.tool) this.toolState(this.run(m.run_id), m.tool);
    }
    if (detail.active_run) this.catchUp(detail.active_run, false);
    this.activeRun = detail.active_run ? detail.active_run.run_id : null;
    if (detail.status === "ended") this.sessionEnded();
    for (const run of this.runs.values()) this.drawRun(run);
    this.scroll(true);
  }

  stored(message) {
    const run = this.run(message.run_id);
    run.text = message.content;
    run.final = true;
    run.agent = message.metadata?.agent_type || run.agent;
  }

  // The run in progress as of `active.seq` (from the hello, or `GET /ai/sessions/{id}`).
  catchUp(active, draw = true) {
    const run = this.run(active.run_id, active.message_id);
    if (active.seq < run.seq) return;
    run.seq = active.seq;
    run.status = "running";
    run.agent = active.agent_type || run.agent;
    if (!run.final) run.text = active.text || "";
    for (const call of active.tool_calls || []) this.toolState(run, { ...call, kind: "call" });
    for (const call of active.tool_calls || []) {
      if ("result" in call || call.error != null) this.toolState(run, { ...call, kind: "result" });
    }
    if (Array.isArray(active.notices)) run.notices = active.notices;
    this.activeRun = run.id;
    if (draw) this.drawRun(run);
  }

  // ---- live events --------------------------------------------------------------------
  apply(ev) {
    if (!ev.run_id) return this.sessionEvent(ev);
    const run = this.run(ev.run_id, ev.type === "run_start" ? ev.data.message_id : undefined);
    if (typeof ev.seq === "number") {
      if (ev.seq <= run.seq) return; // already in the state (history or catch-up)
      run.seq = ev.seq;
    }
    if (ev.agent_type) run.agent = ev.agent_type;
    const step = RUN_STEPS[ev.type];
    if (step) {
      step(this, run, ev.data || {});
      this.drawRun(run);
    }
  }

  sessionEvent(ev) {
    if (ev.type === "message") return this.echo(ev.data);
    if (ev.type === "stt" && ev.data.final) return this.addUser(null, ev.data.text, true);
    if (ev.type === "session_end") return this.sessionEnded();
  }

  // Another device's message, or the echo of this one's (known by `client_id`).
  echo(data) {
    if (this.users.has(data.message_id)) return;
    if (data.client_id === this.clientId) {
      const mine = this.pending.find((p) => p.content === data.content);
      if (mine) return this.accepted(mine, { message_id: data.message_id });
    }
    this.addUser(data.message_id, data.content, data.client_id !== this.clientId);
  }

  sessionEnded() {
    if (this.ended) return;
    this.ended = this.add(el("div", "msg system", "Session ended", "session-ended"));
  }

  // ---- own messages ---------------------------------------------------------------------
  sending(content) {
    const entry = this.addUser(null, content, false);
    entry.node.dataset.state = "sending";
    this.pending.push(entry);
    return entry;
  }

  accepted(entry, answer) {
    this.pending = this.pending.filter((p) => p !== entry);
    if (answer.message_id && !entry.id) {
      entry.id = answer.message_id;
      entry.node.dataset.messageId = entry.id;
      this.users.set(entry.id, entry);
    }
    if (answer.run_id) {
      const run = this.run(answer.run_id, entry.id);
      if (run.status === "new") run.status = this.activeRun && this.activeRun !== run.id ? "queued" : "starting";
      this.drawRun(run);
    }
    this.drawUser(entry);
  }

  failed(entry, error) {
    this.pending = this.pending.filter((p) => p !== entry);
    entry.node.dataset.state = "failed";
    entry.node.title = error.message;
    entry.node.append(el("small", "why", `not sent: ${error.message}`, "send-error"));
  }

  // What speech-to-text heard of the utterance that asked for `run`: its message's text, partial
  // (data-heard="partial", data-partials counts them) until the final.
  heard(run, data) {
    const user = run.messageId && this.users.get(run.messageId);
    if (!user || user.node.dataset.heard === "final") return;
    user.content = data.text;
    user.node.querySelector(".text").textContent = data.text;
    user.node.dataset.heard = data.final ? "final" : "partial";
    if (!data.final) user.node.dataset.partials = String(Number(user.node.dataset.partials || 0) + 1);
  }

  addUser(id, content, other) {
    const node = el("div", other ? "msg user other" : "msg user", undefined, "msg-user");
    node.append(el("span", "text", content));
    const entry = { id, content, node, run: null };
    if (id) {
      node.dataset.messageId = id;
      this.users.set(id, entry);
    }
    this.drawUser(entry);
    this.add(node);
    return entry;
  }

  drawUser(entry) {
    const run = entry.run;
    if (entry.node.dataset.state === "failed") return;
    if (entry.node.dataset.state === "sending" && !entry.id) return;
    entry.node.dataset.state = run && run.status === "queued" ? "queued" : "sent";
  }

  // ---- runs -----------------------------------------------------------------------------
  run(id, messageId) {
    let run = this.runs.get(id);
    if (!run) {
      const node = el("div", "run", undefined, "run");
      node.dataset.runId = id;
      run = { id, node, messageId: null, status: "new", agent: "", seq: 0, text: "", final: false,
        tools: new Map(), notices: [] };
      this.runs.set(id, run);
    }
    if (messageId && !run.messageId) run.messageId = messageId;
    this.place(run);
    return run;
  }

  // A run is drawn right after the message that asked for it (else at the end).
  place(run) {
    const user = run.messageId && this.users.get(run.messageId);
    if (user) {
      user.run = run;
      if (user.node.nextSibling !== run.node) user.node.after(run.node);
      this.drawUser(user);
    } else if (!run.node.isConnected) {
      this.add(run.node);
    }
  }

  toolState(run, tool) {
    const call = run.tools.get(tool.call_id) || { call_id: tool.call_id, done: false };
    if (tool.kind === "call") {
      Object.assign(call, { tool_name: tool.tool_name, parameters: tool.parameters,
        requires_approval: !!tool.requires_approval });
    } else {
      Object.assign(call, { done: true, result: tool.result, error: tool.error ?? null,
        reason: tool.reason ?? null });
      call.tool_name = call.tool_name || tool.tool_name;
    }
    run.tools.set(tool.call_id, call);
  }

  decided(callId, label) {
    for (const run of this.runs.values()) {
      const call = run.tools.get(callId);
      if (call && !call.done) {
        call.decision = label;
        this.drawRun(run);
      }
    }
  }

  drawRun(run) {
    const stick = this.nearBottom();
    const parts = [];
    for (const n of run.notices) if (n.type === "agent_switch") parts.push(switchNotice(n.data));
    for (const call of run.tools.values()) parts.push(this.toolCard(run, call));
    if (run.text || run.final) parts.push(bubble(run));
    const audio = run.notices.find((n) => n.type === "tts");
    if (audio) parts.push(audioLine(audio.data));
    for (const n of run.notices) if (n.type === "warning") parts.push(el("div", "msg system", `⚠ ${n.data.message}`, "warning"));
    for (const n of run.notices) if (n.type === "error") parts.push(el("div", "msg error", `${n.data.code}: ${n.data.message}`, "msg-error"));
    if (run.status === "failed" || run.status === "cancelled") parts.push(el("div", "msg system", `Run ${run.status}`, "run-status"));
    run.node.replaceChildren(...parts);
    run.node.dataset.status = run.status;
    const user = run.messageId && this.users.get(run.messageId);
    if (user) this.drawUser(user);
    this.scroll(stick);
  }

  toolCard(run, call) {
    const card = el("div", "tool", undefined, "tool-card");
    card.dataset.callId = call.call_id;
    card.append("⚙ ", el("code", "", `${call.tool_name}(${stableJson(call.parameters ?? {})})`));
    if (call.requires_approval) card.append(this.approval(run, call));
    if (call.done) {
      const failed = call.error != null;
      const why = call.reason ? ` (${call.reason})` : "";
      const text = failed ? `failed: ${call.error}${why}` : `→ ${stableJson(call.result)}`;
      card.append(el("div", failed ? "result failed" : "result", text, "tool-result"));
    }
    return card;
  }

  approval(run, call) {
    const box = el("div", "approval", undefined, "approval");
    const open = !call.done && !call.decision && !TERMINAL.has(run.status);
    const approve = el("button", "", "Approve", "approve-button");
    const deny = el("button", "danger", "Deny", "deny-button");
    for (const [button, yes] of [[approve, true], [deny, false]]) {
      button.type = "button";
      button.disabled = !open;
      button.onclick = () => this.onDecide(call.call_id, yes);
    }
    box.append(approve, deny, el("small", "", approvalLabel(run, call), "approval-state"));
    return box;
  }

  // ---- scrolling ------------------------------------------------------------------------
  add(node) {
    const stick = this.nearBottom();
    this.box.append(node);
    this.scroll(stick);
    return node;
  }

  nearBottom() {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 60;
  }

  scroll(stick) {
    if (stick) this.box.scrollTop = this.box.scrollHeight;
  }
}

// How each run event changes its run's state.
const RUN_STEPS = {
  run_start(conv, run) {
    run.status = "running";
    conv.activeRun = run.id;
  },
  token(conv, run, data) {
    if (!run.final) run.text += data.token;
  },
  response(conv, run, data) {
    run.text = data.content;
    run.final = true;
  },
  tool_call(conv, run, data) { conv.toolState(run, { ...data, kind: "call" }); },
  tool_result(conv, run, data) { conv.toolState(run, { ...data, kind: "result" }); },
  agent_switch(conv, run, data) { run.notices.push({ type: "agent_switch", data }); },
  warning(conv, run, data) { run.notices.push({ type: "warning", data: { code: data.code, message: data.message } }); },
  error(conv, run, data) { run.notices.push({ type: "error", data: { code: data.code, message: data.message } }); },
  stt(conv, run, data) { conv.heard(run, data); },
  tts(conv, run, data) {
    const audio = run.notices.find((n) => n.type === "tts");
    const chunks = (audio ? audio.data.chunks : 0) + 1;
    const next = { type: "tts", data: { chunks, final: data.final === true } };
    if (audio) Object.assign(audio, next);
    else run.notices.push(next);
  },
  run_end(conv, run, data) {
    run.status = data.status;
    if (conv.activeRun === run.id) conv.activeRun = null;
  },
};

function switchNotice(data) {
  const why = data.reason ? ` (${data.reason})` : "";
  return el("div", "msg system", `Switched to ${data.to}${why}`, "agent-switch");
}

function bubble(run) {
  const node = el("div", "msg assistant", undefined, "msg-assistant");
  node.append(el("span", "who", run.agent || ""), el("span", "text", run.text));
  if (run.final) node.dataset.final = "true";
  return node;
}

function audioLine(data) {
  return el("div", "audio", `♪ audio: ${data.chunks} chunk(s)${data.final ? " (complete)" : ""}`, "audio");
}

function approvalLabel(run, call) {
  if (call.done) {
    if (call.error === "denied") return "denied";
    if (call.error === "approval_timeout") return "timed out";
    return "approved";
  }
  if (call.decision) return call.decision;
  return TERMINAL.has(run.status) ? `run ${run.status}` : "waiting for approval";
}

// JSON with object keys sorted: stored JSON (Postgres jsonb) does not keep the key order, and
// history must read exactly as the live view.
function stableJson(value) {
  return JSON.stringify(value, (key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v);
}
