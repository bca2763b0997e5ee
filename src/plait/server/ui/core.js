// The console's shared pieces: building DOM safely, talking to the JSON API, formatting.
//
// Everything shown comes from user data (ids, payloads, failure messages), so nothing here
// ever assigns markup: elements are built with h(), which only sets text and attributes.

import {Decoded, decodedOf, decodeMarks, Undecodable} from "./codec.js";

export const API = "/api/v1";

/** An element: h("a", {href: "/x", class: "b"}, "text", child, [more, children]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "open") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const enc = encodeURIComponent;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// -- the API key of a server started with --auth ---------------------------------------------
//
// The console keeps the key the user signed in with for this browser tab's session only
// (sessionStorage: gone when the tab closes, never sent anywhere but this server's API), with
// the CSRF token the server binds to it. Every call carries the key as a bearer header; calls
// that change state carry the token too (the server refuses a browser's without it).

const KEY = "plait.apiKey";
const SESSION = "plait.keySession";
let unauthenticated = () => {};

/** The signed-in key's session: {key, csrf_token, key_id, role, namespace}, or null. */
export function signedIn() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION) || "null");
    const key = sessionStorage.getItem(KEY);
    return s && key ? {...s, key} : null;
  } catch { return null; }
}

/** Check a key with the server (GET /csrf); keep it, with its token, when the server takes it.
 * Throws ApiError (401 for a key the server does not know). */
export async function signIn(key) {
  const info = await request("/csrf", {key: key.trim()});
  sessionStorage.setItem(KEY, key.trim());
  sessionStorage.setItem(SESSION, JSON.stringify(info));
  return info;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SESSION);
}

/** What the app does when the server answers 401: ask for a key (app.js registers it). */
export function onUnauthenticated(fn) { unauthenticated = fn; }

/** Call the JSON API; path is relative to /api/v1. Throws ApiError with the server's message;
 * a 401 also sends the console to its sign-in form. */
export async function api(path, {method = "GET", body, signal, etag, onTag} = {}) {
  const session = signedIn();
  try {
    return await request(path, {method, body, signal, etag, onTag,
      key: session && session.key, csrf: session && session.csrf_token});
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      signOut();
      unauthenticated(e);
    }
    throw e;
  }
}

const NOT_MODIFIED = Symbol("not modified");

async function request(path, {method = "GET", body, signal, key, csrf, etag, onTag} = {}) {
  const init = {method, signal, headers: {Accept: "application/json"}};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (csrf && method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf;
  if (onTag) init.cache = "no-store";  // the page keeps the answer and asks with its ETag
  if (etag) init.headers["If-None-Match"] = etag;
  const resp = await fetch(API + path, init);
  if (onTag) onTag(resp.headers.get("ETag"));
  if (resp.status === 304 && etag) return NOT_MODIFIED;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const err = data && data.error;
    throw new ApiError(resp.status, err ? err.code : "http_" + resp.status,
      err ? err.message : `${method} ${path}: HTTP ${resp.status}`);
  }
  return data;
}

// The last answer to each polled GET, with its ETag (at most HELD_MAX paths, oldest dropped).
const held = new Map();
const HELD_MAX = 32;

/** GET what a live page polls: {data, changed}. The request carries the ETag of the last
 * answer to the same path; when the server answers 304 Not Modified, `data` is that answer
 * again (the same object) and `changed` is false, so the page has nothing to parse or draw. */
export async function apiIfChanged(path, {signal} = {}) {
  const last = held.get(path);
  let tag = null;
  const data = await api(path, {signal, etag: last && last.etag, onTag: (t) => { tag = t; }});
  held.delete(path);
  const kept = data === NOT_MODIFIED ? last.data : data;
  if (tag) held.set(path, {etag: tag, data: kept});
  if (held.size > HELD_MAX) held.delete(held.keys().next().value);
  return {data: kept, changed: data !== NOT_MODIFIED};
}

export const nsPath = (ns) => `/namespaces/${enc(ns)}`;

export function requestId() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Who polls a task queue and what waits on it: {task_queue, pollers: [...], backlog: [...]}. */
export function describeQueue(ns, queue, signal) {
  return api(`${nsPath(ns)}/task-queues/${enc(queue)}`, {signal});
}

// -- formatting ------------------------------------------------------------------------------

/** Unix seconds, or an ISO string, as "2026-12-06 14:03:21.883 UTC". */
export function ts(t) {
  if (t === null || t === undefined || t === "") return "";
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace("T", " ").replace("Z", " UTC");
}

export function toSeconds(t) {
  if (t === null || t === undefined) return null;
  return typeof t === "number" ? t : new Date(t).getTime() / 1000;
}

/** A duration in seconds as "850 ms", "4.2 s", "3 min 5 s", "2 h 4 min", "3 d 2 h". */
export function dur(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "";
  if (s < 0) s = 0;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} min`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

export const now = () => Date.now() / 1000;

/** A time element showing UTC (to the second when short, for tables), with the full time
 * and how long ago (or how soon) as its title. */
export function timeEl(t, short = false) {
  const s = toSeconds(t);
  if (s === null) return "";
  const delta = s - now();
  const rel = delta >= 0 ? `in ${dur(delta)}` : `${dur(-delta)} ago`;
  return h("time", {datetime: new Date(s * 1000).toISOString(), title: `${ts(s)}, ${rel}`},
    short ? ts(s).slice(0, 19) : ts(s));
}

/** A payload envelope's value ({"encoding": "json", "data": v} -> v); an encoded one as the
 * codec server decoded it (codec.js: a Decoded or an Undecodable), else as is. */
export function unwrap(p) {
  if (p && typeof p === "object" && !Array.isArray(p) && "encoding" in p && "data" in p
      && Object.keys(p).length <= 3) {
    if (p.encoding === "json") return p.data;
    const d = decodedOf(p);
    if (d) return d;
  }
  return p;
}

/** Attributes with every payload envelope unwrapped, for reading. */
export function unwrapDeep(v) {
  if (Array.isArray(v)) return v.map(unwrapDeep);
  if (v instanceof Decoded || v instanceof Undecodable) return v;
  if (v && typeof v === "object") {
    const u = unwrap(v);
    if (u !== v) return unwrapDeep(u);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapDeep(x)]));
  }
  return v;
}

export const pretty = (v) => JSON.stringify(v, null, 2);

/** A <pre> with a JSON value pretty-printed; marked when it holds payloads the codec server
 * decoded (or could not). */
export function jsonBlock(v, cls = "json") {
  const pre = h("pre", {class: cls, tabindex: 0}, v === undefined ? "" : pretty(v));
  const m = decodeMarks(v);
  if (!m.decoded && !m.failed) return pre;
  return h("div", {class: "decoded-block"},
    m.decoded ? h("span", {class: "tag decoded", title: "Decoded by your codec server"}, "decoded") : null,
    m.failed ? h("span", {class: "tag not-decoded", title: "Your codec server did not decode some of it"}, "not decoded") : null,
    pre);
}

export function statusBadge(status) {
  return h("span", {class: `badge st-${String(status || "").toLowerCase()}`}, status || "?");
}

export const STATUSES = ["RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED",
  "CONTINUED_AS_NEW", "TIMED_OUT"];
export const CLOSED = new Set(STATUSES.filter((s) => s !== "RUNNING"));

// -- page chrome -----------------------------------------------------------------------------

/** A status line for messages and errors (announced to screen readers). */
export function notice(kind, ...text) {
  return h("p", {class: `notice ${kind}`, role: kind === "error" ? "alert" : "status"}, ...text);
}

export function errorText(e) {
  return e instanceof ApiError ? `${e.message} (${e.code})` : String(e && e.message || e);
}

/** Ask before a destructive action; resolves to the reason typed, or null when dismissed. */
export function confirmDialog({title, body, action, reasonLabel = "Reason", danger = true}) {
  return new Promise((resolve) => {
    const reason = h("input", {type: "text", id: "confirm-reason", autocomplete: "off"});
    const dlg = h("dialog", {class: "confirm", "aria-labelledby": "confirm-title"},
      h("form", {method: "dialog"},
        h("h2", {id: "confirm-title"}, title),
        body ? h("div", {}, body) : null,
        reasonLabel ? h("label", {for: "confirm-reason"}, reasonLabel) : null,
        reasonLabel ? reason : null,
        h("menu", {},
          h("button", {value: "cancel", type: "submit"}, "Back"),
          h("button", {value: "ok", type: "submit", class: danger ? "danger" : "primary"}, action))));
    document.body.append(dlg);
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue === "ok" ? reason.value : null);
      dlg.remove();
    });
    dlg.showModal();
    if (reasonLabel) reason.focus();
  });
}

/** Debounce: run fn once the calls stop for ms. */
export function debounce(fn, ms) {
  let t = 0;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** A repeating refresh every `ms` that never overlaps itself and stops on dispose. While the
 * tab is hidden it does not run at all (no timer, no request); when the tab is shown again it
 * refreshes at once and carries on. */
export function poller(fn, ms) {
  let timer = 0, stopped = false, busy = false;
  const tick = async () => {
    timer = 0;
    if (stopped || document.hidden || busy) return;
    busy = true;
    try { await fn(); } catch (e) { console.warn(e); } finally { busy = false; }
    if (!stopped && !document.hidden && !timer) timer = setTimeout(tick, ms);
  };
  const visibility = () => {
    if (stopped) return;
    if (document.hidden) {
      clearTimeout(timer);
      timer = 0;
    } else if (!timer && !busy) {
      tick();
    }
  };
  document.addEventListener("visibilitychange", visibility);
  if (!document.hidden) timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", visibility);
  };
}

/** Parse a JSON arguments text: "" -> [], a JSON array -> its items, any other value -> [it]. */
export function parseArgs(text) {
  const t = text.trim();
  if (!t) return [];
  const v = JSON.parse(t);
  return Array.isArray(v) ? v : [v];
}

export const payloads = (values) => values.map((data) => ({encoding: "json", data}));
