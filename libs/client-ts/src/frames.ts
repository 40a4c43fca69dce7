/** Client → server frames and the WebSocket URL. */

export type AckMode = "client" | "auto";

/** `ws(s)://host/ai/ws/{sessionId}?client_id=...&ack=...` from the gateway's http(s) URL. */
export function wsUrl(baseUrl: string, sessionId: string, clientId: string, ack: AckMode): string {
  const url = new URL(baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : url.protocol === "http:" ? "ws:" : url.protocol;
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/ai/ws/${encodeURIComponent(sessionId)}`;
  url.search = new URLSearchParams({ client_id: clientId, ack }).toString();
  url.hash = "";
  return url.toString();
}

export function frame(type: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ type, ...fields });
}
