// The demo page: sign in, sessions, live chat, on the @switchboard/client SDK (./sdk/, built
// from libs/client-ts by `make install`). Talks only to the gateway's URL.
import { SwitchboardClient, Replaced } from "./sdk/index.js";
import { Conversation } from "./conversation.js";
import { el } from "./dom.js";
import { freshToken, onChange, saved, signIn, signOut } from "./signin.js";
import { Player } from "./player.js";
import { holdToTalk } from "./voice.js";

const $ = (sel) => document.querySelector(sel);
const BASE = window.location.origin;
const state = { user: null, client: null, session: null, stream: null, opening: 0 };
const conv = new Conversation($("#messages"), { clientId: clientId(), onDecide: decide });
const player = new Player($("[data-testid=player]"), () => refreshRunning());

// A device id per tab (sessionStorage); a new one when another tab turns out to hold it.
function clientId(renew = false) {
  let id = renew ? null : sessionStorage.getItem("sb-client-id");
  if (!id) {
    id = "web-" + crypto.getRandomValues(new Uint32Array(2)).join("").slice(0, 12);
    sessionStorage.setItem("sb-client-id", id);
  }
  return id;
}

// ---- sign in and sessions ---------------------------------------------------------------
async function submitSignIn(event) {
  event.preventDefault();
  try {
    const { user, token } = await signIn(BASE, $("#login-user").value.trim());
    await showApp(user, token);
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
}

async function showApp(user, token) {
  state.user = user;
  let current = token;
  state.client = new SwitchboardClient(BASE, {
    token,
    tokenProvider: async () => (current = await freshToken(BASE, user, current)),
  });
  $(".login").hidden = true;
  $(".app").hidden = false;
  $("[data-testid=who]").textContent = user;
  $("#signout").hidden = false;
  await loadSessions();
  const wanted = new URLSearchParams(location.search).get("session");
  if (wanted) await openSession(wanted);
  else document.body.classList.add("drawer-open"); // on a phone: the list first
}

function showSignIn() {
  state.stream?.close();
  Object.assign(state, { user: null, client: null, session: null, stream: null });
  $(".app").hidden = true;
  $(".login").hidden = false;
  $("#signout").hidden = true;
  $("[data-testid=who]").textContent = "";
}

async function loadSessions() {
  const page = await state.client.listSessions({ limit: 50 });
  $("#sessions").replaceChildren(...page.items.map(sessionItem));
}

function sessionItem(s) {
  const li = el("li", s.id === state.session ? "active" : "", undefined, "session-item");
  li.dataset.sessionId = s.id;
  const when = new Date(s.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  const title = el("span", "title", s.title || "New conversation", "session-title");
  if (s.title) title.dataset.titled = "true";
  li.append(title,
    el("small", "", `${s.agent_type} · ${when}${s.status === "ended" ? " · ended" : ""}`));
  li.title = s.title || s.id;
  li.onclick = () => openSession(s.id);
  return li;
}

// The list names a session by its first message (as the server does, first 80 characters).
function titleIfNone(content) {
  const item = document.querySelector(`#sessions li[data-session-id="${state.session}"] .title`);
  if (item && !item.dataset.titled) {
    item.textContent = content.slice(0, 80);
    item.dataset.titled = "true";
  }
}

async function newSession() {
  const mode = $("#voice-mode").checked ? "voice" : "text";
  const s = await state.client.createSession({ agentType: "personal", mode, clientId: clientId() });
  await loadSessions();
  await openSession(s.id);
}

// History first, then the stream: events the model already holds (by run `seq`, message id)
// are skipped, a catch-up brings a run in progress up to date, the live tail follows.
async function openSession(id) {
  const opening = ++state.opening;
  await state.stream?.close();
  state.stream = null;
  state.session = id;
  player.stop([...conv.runs.keys()]);
  history.replaceState(null, "", `?session=${id}`);
  document.querySelectorAll("#sessions li").forEach((li) => li.classList.toggle("active", li.dataset.sessionId === id));
  document.body.classList.remove("drawer-open");
  $("#empty").hidden = true;
  $("#composer").hidden = false;
  const detail = await state.client.getSession(id, { fullTexts: true }); // long answers whole
  if (opening !== state.opening) return;
  conv.load(detail);
  $("#talk").hidden = detail.mode !== "voice";
  setAgent(lastAgent(detail));
  refreshRunning();
  connect(id, opening);
}

// The conversation was just rebuilt from history, which may be a moment behind the stream: the
// stream starts without a cursor (its hello's catch-up is exact and joins the live tail);
// within the page the SDK resumes by cursor across reconnects.
function connect(id, opening) {
  const stream = state.client.events(id, { clientId: clientId(), onState: showConn, cursor: null });
  state.stream = stream;
  stream.on("*", onItem);
  stream.on("frame", onControl);
  stream.on("closed", (err) => onClosed(stream, id, opening, err));
  window.switchboardTest = {
    drop: () => stream.conn?.close(4000, "dropped by test hook"), // as a network failure would
    clientId: () => stream.clientId,
  };
  const shown = conv.activeRun; // the run history showed in progress
  stream.start().catch(() => {}); // a fatal close reaches onClosed
  stream.open().then(() => settleEnded(stream, id, opening, shown)).catch(() => {});
}

// History may be a moment behind the stream; the hello's `active_run` is exact. A run history
// showed in progress and the first hello does not ended before this device joined: its
// `run_end` never reaches this stream, so history is read again until it has stored the outcome.
async function settleEnded(stream, id, opening, runId) {
  if (!runId || stream.lastHello?.active_run?.run_id === runId) return;
  for (let wait = 100, tries = 0; tries < 25; wait = Math.min(wait * 2, 2000), tries++) {
    const detail = await state.client.getSession(id, { fullTexts: true });
    if (opening !== state.opening || stream !== state.stream) return;
    if (detail.active_run?.run_id !== runId) {
      conv.load(detail);
      setAgent(lastAgent(detail));
      return refreshRunning();
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  flash(`the outcome of run ${runId} is not stored yet: reload later`);
}

function onClosed(stream, id, opening, err) {
  if (stream !== state.stream || opening !== state.opening) return;
  if (err instanceof Replaced) {
    clientId(true); // another tab of this browser holds this tab's device id: take a new one
    conv.clientId = clientId();
    return openSession(id);
  }
  if (err) showConn("closed", err.message);
}

function lastAgent(detail) {
  const runs = [...conv.runs.values()].filter((r) => r.agent);
  return runs.length ? runs[runs.length - 1].agent : detail.agent_type;
}

// ---- the stream -------------------------------------------------------------------------
const STATUS = new Set(["thinking", "typing", "waiting"]);

function onItem(item) {
  if (item.type === "catch_up") conv.catchUp(item);
  else if (item.type === "reload") conv.load(item.session);
  else if (STATUS.has(item.type)) return indicate(item.data.message || `${item.type}…`, item.type === "typing");
  else if (!item.run_id && (item.type === "error" || item.type === "warning")) flash(`${item.data.code}: ${item.data.message}`);
  else {
    if (["token", "response", "run_end", "error"].includes(item.type)) indicate(null);
    conv.apply(item);
    if (item.type === "agent_switch") setAgent(item.data.to);
    if (item.type === "tts") player.enqueue(item.run_id, item.data);
  }
  refreshRunning();
}

function onControl(frame) {
  if (frame.type === "tool_decision_accepted") conv.decided(frame.call_id, frame.status);
  else if (frame.type === "error") flash(`${frame.code}: ${frame.message}`);
}

// ---- actions ----------------------------------------------------------------------------
async function send(event) {
  event.preventDefault();
  const input = $("#message-input");
  const content = input.value.trim();
  if (!content || !state.session) return;
  input.value = "";
  const entry = conv.sending(content);
  try {
    // while a run is active the message waits its turn (shown as queued), never lost
    const answer = await state.client.sendMessage(state.session, content, { onBusy: "enqueue", clientId: clientId() });
    conv.accepted(entry, answer);
    titleIfNone(content);
  } catch (err) {
    conv.failed(entry, err);
  }
  refreshRunning();
}

// Stop: silence the speech (and what is still to come of its runs), cancel the active run.
async function cancelRun() {
  player.stop([...conv.runs.keys()]);
  if (!conv.activeRun) return refreshRunning();
  if (state.stream?.cancel()) return;
  await state.client.cancel(state.session).catch((err) => flash(err.message));
}

async function decide(callId, approve) {
  conv.decided(callId, approve ? "approving…" : "denying…");
  if (state.stream?.decideTool(callId, approve)) return;
  try {
    const answer = await state.client.decideTool(state.session, callId, approve);
    conv.decided(callId, answer.status);
  } catch (err) {
    conv.decided(callId, err.message);
  }
}

// An utterance from the talk button: shown as the user's message, its transcript filled in by
// the `stt` events (partials, then the final).
async function sendUtterance(wav) {
  const entry = conv.sending(""); // "": the echo of an upload has no content yet
  entry.node.querySelector(".text").textContent = "(speaking…)";
  try {
    const answer = await state.client.sendAudio(state.session, wav, { clientId: clientId() });
    conv.accepted(entry, answer);
  } catch (err) {
    conv.failed(entry, err);
  }
  refreshRunning();
}

let typingSent = 0;
function typing() {
  if (Date.now() - typingSent > 3000 && state.stream?.typing()) typingSent = Date.now();
}

// ---- small views ------------------------------------------------------------------------
let indicatorTimer = 0;
function indicate(text, briefly = false) {
  const node = $("[data-testid=indicator]");
  node.hidden = !text;
  node.textContent = text || "";
  clearTimeout(indicatorTimer);
  if (briefly) indicatorTimer = setTimeout(() => indicate(null), 4000); // another device typing
}

let flashTimer = 0;
function flash(text) {
  const node = $("[data-testid=flash]");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { node.hidden = true; }, 6000);
}

function setAgent(name) {
  const badge = $("[data-testid=agent-badge]");
  badge.hidden = !name;
  badge.textContent = name || "";
}

function refreshRunning() {
  $("#cancel").hidden = !conv.activeRun && !player.busy;
  if (!conv.activeRun) indicate(null);
}

const CONN_LABELS = { idle: "offline", connecting: "connecting", live: "live",
  reconnecting: "reconnecting", resumed: "resumed", closed: "disconnected" };

function showConn(status, detail) {
  const node = $("[data-testid=conn-state]");
  node.dataset.state = status;
  node.textContent = CONN_LABELS[status] + (detail && status === "closed" ? ` (${detail})` : "");
}

$("#login-form").addEventListener("submit", submitSignIn);
$("#new-session").addEventListener("click", newSession);
$("#composer").addEventListener("submit", send);
$("#cancel").addEventListener("click", cancelRun);
$("#message-input").addEventListener("input", typing);
holdToTalk($("#talk"), { send: sendUtterance, onError: flash, onPress: () => player.unlock() });
$("#cancel").addEventListener("pointerdown", () => player.unlock());
$("#sessions-toggle").addEventListener("click", () => document.body.classList.toggle("drawer-open"));
$("#signout").addEventListener("click", () => { signOut(); showSignIn(); });
window.addEventListener("pagehide", () => state.stream?.close()); // acks what was shown
onChange((signin) => {
  if (!signin) showSignIn();
  else if (!state.user) showApp(signin.user, signin.token).catch((err) => flash(err.message));
});
const remembered = saved();
if (remembered) showApp(remembered.user, remembered.token).catch(() => { signOut(); showSignIn(); });
