// The live state from /ws (evcc's scheme: a welcome with everything, then {key: value} changes; keys are
// split on "." — "loadpoints.0.chargePower" — and a null value means the key is gone).

const listeners = new Set();
let state = {};
let stamps = {};
let socket = null;
let retryTimer = null;
let attempt = 0;
let scheduled = false;

export const connection = { status: "connecting", retryAt: 0, since: Date.now() };

export function getState() {
  return state;
}

/** When a key last changed (ms, performance clock): countdowns like pvRemaining run on from there. */
export function stampOf(key) {
  return stamps[key];
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const listener of listeners) listener(state);
  });
}

function setPath(target, parts, value) {
  const last = parts[parts.length - 1];
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (node[part] == null || typeof node[part] !== "object") node[part] = {};
    node = node[part];
  }
  if (value === null) delete node[last];
  else node[last] = value;
}

/** Apply one websocket message; a new object for every change so views can compare by identity. */
export function apply(message, base = state) {
  const next = structuredClone(base);
  const now = performance.now();
  for (const [key, value] of Object.entries(message)) {
    if (key === "log") {
      window.dispatchEvent(new CustomEvent("chargebus-log", { detail: value }));
      continue;
    }
    setPath(next, key.split("."), value);
    stamps[key] = now;
  }
  return next;
}

/** The loadpoints as an array of {id (1-based), ...keys}, in index order. */
export function loadpointsOf(s) {
  const raw = s.loadpoints || {};
  const entries = Array.isArray(raw) ? raw.map((lp, i) => [i, lp]) : Object.entries(raw);
  return entries
    .filter(([, lp]) => lp && typeof lp === "object")
    .map(([index, lp]) => ({ ...lp, index: Number(index), id: Number(index) + 1 }))
    .sort((a, b) => a.index - b.index);
}

function setStatus(status, retryAt = 0) {
  connection.status = status;
  connection.retryAt = retryAt;
  connection.since = Date.now();
  notify();
}

export function connect() {
  clearTimeout(retryTimer);
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  setStatus(attempt === 0 ? "connecting" : "reconnecting");
  const ws = new WebSocket(url);
  socket = ws;
  let welcome = true;
  ws.onopen = () => {
    attempt = 0;
    setStatus("live");
  };
  ws.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    if (welcome) {
      // the first frame is the whole state: forget what an earlier connection left behind
      welcome = false;
      stamps = {};
      state = apply(message, {});
    } else {
      state = apply(message);
    }
    notify();
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    attempt += 1;
    const delay = Math.min(10000, 500 * 2 ** Math.min(attempt, 5));
    setStatus("offline", Date.now() + delay);
    retryTimer = setTimeout(connect, delay);
  };
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && connection.status === "offline") connect();
});
window.addEventListener("online", () => connection.status === "offline" && connect());
