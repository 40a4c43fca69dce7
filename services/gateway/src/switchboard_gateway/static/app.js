// The demo page: sign in, sessions, live chat. Talks only to the gateway's URL.
import { api, devToken, EventStream } from "./switchboard.js";

const $ = (sel) => document.querySelector(sel);
const BASE = window.location.origin;
const state = { token: sessionStorage.getItem("sb-token"), user: sessionStorage.getItem("sb-user"),
  session: null, stream: null, bubbles: new Map(), tools: new Map(), activeRun: null, audio: [] };

function clientId() {
  let id = sessionStorage.getItem("sb-client-id");
  if (!id) {
    id = "web-" + crypto.getRandomValues(new Uint32Array(2)).join("").slice(0, 12);
    sessionStorage.setItem("sb-client-id", id);
  }
  return id;
}

const call = (method, path, body) => api(BASE, state.token, method, path, body);

function el(tag, cls, text, testid) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  if (testid) node.dataset.testid = testid;
  return node;
}

function add(node) {
  const box = $("#messages");
  const stick = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.append(node);
  if (stick) box.scrollTop = box.scrollHeight;
  return node;
}

// ---- sign in and sessions -------------------------------------------------------------
async function signIn(event) {
  event.preventDefault();
  try {
    state.user = $("#login-user").value.trim();
    state.token = await devToken(BASE, state.user);
    sessionStorage.setItem("sb-token", state.token);
    sessionStorage.setItem("sb-user", state.user);
    await showApp();
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
}

async function showApp() {
  $(".login").hidden = true;
  $(".app").hidden = false;
  $("[data-testid=who]").textContent = state.user;
  await loadSessions();
  const wanted = new URLSearchParams(location.search).get("session");
  if (wanted) await openSession(wanted);
}

async function loadSessions() {
  const data = await call("GET", "/ai/sessions?limit=50");
  const list = Array.isArray(data) ? data : data.sessions || data.items || data.data || [];
  const ul = $("#sessions");
  ul.replaceChildren(...list.map((s) => {
    const li = el("li", s.id === state.session ? "active" : "", undefined, "session-item");
    li.dataset.sessionId = s.id;
    li.append(el("span", "", s.agent_type || "session"), el("small", "", `${s.id.slice(-8)} · ${s.status}`));
    li.onclick = () => openSession(s.id);
    return li;
  }));
}

async function newSession() {
  const s = await call("POST", "/ai/sessions", { agent_type: "personal", mode: "text", client_id: clientId() });
  await loadSessions();
  await openSession(s.id);
}

async function openSession(id) {
  state.stream?.close();
  state.session = id;
  history.replaceState(null, "", `?session=${id}`);
  document.querySelectorAll("#sessions li").forEach((li) => li.classList.toggle("active", li.dataset.sessionId === id));
  $("#empty").hidden = true;
  $("#composer").hidden = false;
  await loadHistory();
  state.stream = new EventStream({
    baseUrl: BASE, sessionId: id, clientId: clientId(),
    getToken: () => state.token,
    refreshToken: async () => (state.token = await devToken(BASE, state.user)),
    onEvent: render, onState: showConn, onReload: () => loadHistory(), onFrame: onControl,
    onCatchUp: showActiveRun,
  });
  window.switchboardTest = { stream: state.stream, drop: () => state.stream.drop() };
  state.stream.connect();
}

async function loadHistory() {
  const s = await call("GET", `/ai/sessions/${state.session}`);
  $("#messages").replaceChildren();
  state.bubbles.clear();
  for (const m of s.messages || []) {
    if (m.role === "user") add(el("div", "msg user", m.content, "msg-user"));
    else if (m.role === "assistant") assistantBubble(m.run_id || m.id, s.agent_type).text.textContent = m.content;
  }
  setAgent(s.agent_type);
  setRunning(s.active_run ? (s.active_run.id || s.active_run) : null);
  if (s.active_run && s.active_run.text !== undefined) showActiveRun(s.active_run);
}

// A run in progress when this tab joined: its text so far, then the live tail appends to it.
function showActiveRun(run) {
  const b = assistantBubble(run.run_id, run.agent_type);
  if (!b.final) b.text.textContent = run.text;
  for (const c of run.tool_calls || []) toolCard(c);
  setRunning(run.run_id);
}

// ---- live events -----------------------------------------------------------------------
function assistantBubble(runId, agent) {
  let bubble = state.bubbles.get(runId);
  if (!bubble) {
    const node = el("div", "msg assistant", undefined, "msg-assistant");
    const who = el("span", "who", agent || "");
    const text = el("span", "text");
    node.append(who, text);
    bubble = { node, text, final: false };
    state.bubbles.set(runId, bubble);
    add(node);
  }
  return bubble;
}

const handlers = {
  token(ev) {
    const b = assistantBubble(ev.run_id, ev.agent_type);
    if (!b.final) b.text.textContent += ev.data.token;
  },
  response(ev) {
    const b = assistantBubble(ev.run_id, ev.agent_type);
    b.text.textContent = ev.data.content;
    b.final = true;
    b.node.dataset.final = "true";
  },
  message(ev) {
    if (ev.data.client_id === clientId()) return;
    add(el("div", "msg user other", ev.data.content, "msg-user"));
  },
  tool_call(ev) { toolCard(ev.data); },
  tool_result(ev) {
    const card = state.tools.get(ev.data.call_id) || add(el("div", "tool", undefined, "tool-card"));
    decided(ev.data.call_id, ev.data.error === "denied" ? "denied" : ev.data.error === "approval_timeout" ? "timed out" : "approved");
    const failed = ev.data.error != null;
    const why = ev.data.reason ? ` (${ev.data.reason})` : "";
    const text = failed ? `failed: ${ev.data.error}${why}` : `→ ${JSON.stringify(ev.data.result)}`;
    card.append(el("div", failed ? "result failed" : "result", text, "tool-result"));
  },
  agent_switch(ev) {
    setAgent(ev.data.to);
    add(el("div", "msg system", `Switched to ${ev.data.to}${ev.data.reason ? ` (${ev.data.reason})` : ""}`));
  },
  tts(ev) { playAudio(ev); },
  stt(ev) { if (ev.data.final) add(el("div", "msg user", ev.data.text, "msg-user")); },
  error(ev) { add(el("div", "msg error", `${ev.data.code}: ${ev.data.message}`, "msg-error")); },
  warning(ev) { add(el("div", "msg system", `⚠ ${ev.data.message}`)); },
  run_start(ev) { setRunning(ev.run_id); },
  run_end(ev) {
    setRunning(null);
    if (ev.data.status !== "completed") add(el("div", "msg system", `Run ${ev.data.status}`, "run-status"));
  },
  session_end(ev) { add(el("div", "msg system", `Session ended (${ev.data.reason})`)); },
};

// A tool call card; one that requires approval gets Approve / Deny until it is decided.
function toolCard(call) {
  if (state.tools.has(call.call_id)) return state.tools.get(call.call_id);
  const card = el("div", "tool", undefined, "tool-card");
  card.dataset.callId = call.call_id;
  card.innerHTML = `⚙ <code></code>`;
  card.querySelector("code").textContent = `${call.tool_name}(${JSON.stringify(call.parameters)})`;
  state.tools.set(call.call_id, card);
  add(card);
  if (call.requires_approval && call.result === undefined && call.error === undefined) {
    const box = el("div", "approval", undefined, "approval");
    const approve = el("button", "", "Approve", "approve-button");
    const deny = el("button", "danger", "Deny", "deny-button");
    approve.type = deny.type = "button";
    approve.onclick = () => decide(call.call_id, true);
    deny.onclick = () => decide(call.call_id, false);
    box.append(approve, deny, el("small", "", "waiting for approval", "approval-state"));
    card.append(box);
  }
  return card;
}

async function decide(callId, approve) {
  decided(callId, approve ? "approving…" : "denying…");
  const frame = { type: "tool_decision", call_id: callId, approve };
  if (state.stream.send(frame)) return;
  try {
    await call("POST", `/ai/sessions/${state.session}/tool_decisions`, { call_id: callId, approve });
  } catch (err) {
    decided(callId, err.message);
  }
}

// Approve / Deny of a call disabled, with what became of it.
function decided(callId, text) {
  const card = state.tools.get(callId);
  if (!card) return;
  card.querySelectorAll(".approval button").forEach((b) => { b.disabled = true; });
  const label = card.querySelector("[data-testid=approval-state]");
  if (label) label.textContent = text;
  if (card.querySelector(".approval")) card.dataset.decided = "true";
}

function render(ev) {
  if (["thinking", "typing", "waiting"].includes(ev.type)) return indicate(ev.data.message || ev.type);
  if (ev.type === "token" || ev.type === "response" || ev.type === "run_end") indicate(null);
  handlers[ev.type]?.(ev);
}

function onControl(frame) {
  if (frame.type === "tool_decision_accepted") return decided(frame.call_id, frame.status);
  if (frame.type === "error") add(el("div", "msg error", `${frame.code}: ${frame.message}`, "msg-error"));
}

function indicate(text) {
  const node = $("[data-testid=indicator]");
  node.hidden = !text;
  node.textContent = text || "";
}

function setAgent(name) {
  const badge = $("[data-testid=agent-badge]");
  badge.hidden = !name;
  badge.textContent = name || "";
}

function setRunning(runId) {
  state.activeRun = runId;
  $("#cancel").hidden = !runId;
  if (!runId) indicate(null);
}

const CONN_LABELS = { connecting: "connecting", live: "live", reconnecting: "reconnecting",
  resumed: "resumed", closed: "disconnected", idle: "offline" };

function showConn(status, detail) {
  const node = $("[data-testid=conn-state]");
  node.dataset.state = status;
  node.textContent = CONN_LABELS[status] + (detail && status === "closed" ? ` (${detail})` : "");
}

// ---- audio: play tts chunks in order ----------------------------------------------------
function playAudio(ev) {
  const bytes = Uint8Array.from(atob(ev.data.audio), (c) => c.charCodeAt(0));
  const url = URL.createObjectURL(new Blob([bytes], { type: `audio/${ev.data.format || "wav"}` }));
  const note = document.querySelector(`[data-run="${ev.run_id}"].audio`) ||
    add(el("div", "audio", "", "audio"));
  note.dataset.run = ev.run_id;
  note.dataset.chunks = String(Number(note.dataset.chunks || 0) + 1);
  note.textContent = `♪ audio: ${note.dataset.chunks} chunk(s)${ev.data.final ? " (complete)" : ""}`;
  state.audio.push(url);
  if (state.audio.length === 1) playNext();
}

function playNext() {
  const url = state.audio[0];
  if (!url) return;
  const audio = new Audio(url);
  const next = () => { URL.revokeObjectURL(state.audio.shift()); playNext(); };
  audio.onended = next;
  audio.onerror = next;
  audio.play().catch(next);
}

// ---- composer ---------------------------------------------------------------------------
async function send(event) {
  event.preventDefault();
  const input = $("#message-input");
  const content = input.value.trim();
  if (!content || !state.session) return;
  input.value = "";
  add(el("div", "msg user", content, "msg-user"));
  try {
    if (!state.stream.send({ type: "message", content, metadata: {} })) {
      await call("POST", `/ai/sessions/${state.session}/message`, { content, metadata: {} });
    }
  } catch (err) {
    add(el("div", "msg error", err.message, "msg-error"));
  }
}

async function cancelRun() {
  if (!state.stream.send({ type: "cancel" })) {
    await call("POST", `/ai/sessions/${state.session}/cancel`).catch(() => {});
  }
}

let typingSent = 0;
function typing() {
  if (Date.now() - typingSent > 3000 && state.stream?.send({ type: "typing" })) typingSent = Date.now();
}

$("#login-form").addEventListener("submit", signIn);
$("#new-session").addEventListener("click", newSession);
$("#composer").addEventListener("submit", send);
$("#cancel").addEventListener("click", cancelRun);
$("#message-input").addEventListener("input", typing);
if (state.token) showApp().catch(() => sessionStorage.removeItem("sb-token"));
