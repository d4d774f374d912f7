// The hub's live events (GET /api/v1/events, Server-Sent Events). EventSource
// cannot send the bearer token, so the stream is read with fetch and parsed
// here. One connection serves every listener; it reconnects after a drop and
// tells listeners whether they are live, so views can poll meanwhile.
import { session } from "/api.js";

const listeners = new Set();
let controller = null;
let live = false;
let retryTimer = null;

/** Calls `handler(name, data)` for each event and `handler("live", bool)` when the stream comes or goes. Answers the unsubscribe function. */
export function subscribe(handler) {
  listeners.add(handler);
  if (!controller && !retryTimer) connect();
  handler("live", live);
  return () => {
    listeners.delete(handler);
    if (listeners.size === 0) disconnect();
  };
}

function emit(name, data) {
  for (const handler of [...listeners]) {
    try { handler(name, data); } catch (error) { console.error(error); }
  }
}

function setLive(value) {
  if (live !== value) { live = value; emit("live", value); }
}

function disconnect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  controller?.abort();
  controller = null;
  setLive(false);
}

async function connect() {
  retryTimer = null;
  if (!session.token) return;
  controller = new AbortController();
  const mine = controller;
  try {
    const response = await fetch("/api/v1/events", { headers: { Authorization: `Bearer ${session.token}` }, signal: mine.signal });
    if (!response.ok || !response.body) throw new Error(`events answered ${response.status}`);
    setLive(true);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  } catch {
    // Dropped, refused or aborted: listeners poll until the stream is back.
  }
  if (controller !== mine) return;  // disconnected on purpose
  controller = null;
  setLive(false);
  if (listeners.size > 0) retryTimer = setTimeout(connect, 3000);
}

function dispatch(block) {
  let name = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!data) return;  // comments and heartbeats
  try { emit(name, JSON.parse(data)); } catch { /* not JSON: not ours */ }
}
