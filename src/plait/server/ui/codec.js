// Payloads a codec encoded (encrypted, compressed), decoded through the user's own codec
// server (`plait codec-server`), whose URL the user sets in the settings (settings.js).
//
// The plait server never has the keys, so the browser asks the codec server: a page gathers
// every encoded envelope it is about to show and sends them in one POST {url}/decode. What
// comes back is kept here, by envelope, and core.unwrap shows it in place of the envelope: a
// Decoded value (marked "decoded" where shown), or, for a payload the codec server refused or
// could not be reached for, an Undecodable that shows the reason, never the ciphertext.
//
// This is the one request the console makes outside the server, to a service the user named.

const URL_KEY = "plait.codecUrl";
const COOKIE = "plait_codec";
const RETRY_MS = 15000;  // an unreachable codec server is asked again after this long
const TIMEOUT_MS = 10000;  // a page waits this long for the codec server at most

/** A value the codec server decoded; shown as its value (toJSON), and marked. */
export class Decoded {
  constructor(value) { this.value = value; }
  toJSON() { return this.value; }
}

/** A payload the codec server did not decode, with why; shown as that reason, never as the
 * encoded data. */
export class Undecodable {
  constructor(message) { this.message = message; }
  toJSON() { return `[not decoded: ${this.message}]`; }
}

const cache = new Map();   // envelope key -> Decoded | Undecodable
const failedAt = new Map();  // envelope key -> ms, for a failure worth retrying (unreachable)
let generation = 0;        // bumped when the cache learns something: pages redraw

/** The codec server's URL, or "" when none is set. */
export function codecUrl() {
  try { return localStorage.getItem(URL_KEY) || ""; } catch { return ""; }
}

/** Set (or with "", clear) the codec server. Its origin goes into a cookie so that the
 * server's Content-Security-Policy lets the page reach it (from the next page load on). */
export function setCodecUrl(url) {
  if (url) {
    localStorage.setItem(URL_KEY, url);
    document.cookie = `${COOKIE}=${new URL(url).origin}; path=/; max-age=31536000; SameSite=Strict`;
  } else {
    localStorage.removeItem(URL_KEY);
    document.cookie = `${COOKIE}=; path=/; max-age=0; SameSite=Strict`;
  }
  cache.clear();
  failedAt.clear();
  generation++;
}

export const codecGeneration = () => generation;

/** An envelope a codec made: {encoding: not "json", data, metadata?}. */
export function isEncoded(p) {
  return Boolean(p && typeof p === "object" && !Array.isArray(p) && typeof p.encoding === "string"
    && p.encoding !== "json" && "data" in p && Object.keys(p).length <= 3);
}

const keyOf = (p) => JSON.stringify(p);

/** What the codec server made of an envelope: Decoded, Undecodable, or undefined (not
 * asked yet, or no codec server set). */
export function decodedOf(p) {
  return codecUrl() ? cache.get(keyOf(p)) : undefined;
}

function collect(v, out, depth = 0) {
  if (depth > 64 || v === null || typeof v !== "object") return;
  if (isEncoded(v)) { out.set(keyOf(v), v); return; }
  for (const x of Array.isArray(v) ? v : Object.values(v)) collect(x, out, depth + 1);
}

/** Decode every encoded envelope found in `values` that is not known yet: one request to
 * the codec server (a refused batch is split to find the payloads at fault). Never throws;
 * the outcome is in the cache (decodedOf). Does nothing without a codec server. */
export async function decodeFor(...values) {
  const url = codecUrl();
  if (!url) return;
  const found = new Map();
  for (const v of values) collect(v, found);
  const t = Date.now();
  const todo = [...found].filter(([k]) => !cache.has(k) || (failedAt.has(k) && t - failedAt.get(k) > RETRY_MS));
  if (!todo.length) return;
  await decodeBatch(url, todo);
  generation++;
}

async function decodeBatch(url, todo) {
  let resp, body;
  try {
    resp = await fetch(`${url.replace(/\/+$/, "")}/decode`, {method: "POST",
      headers: {"Content-Type": "application/json"}, credentials: "omit",
      signal: AbortSignal.timeout(TIMEOUT_MS),
      body: JSON.stringify({payloads: todo.map(([, p]) => p)})});
    body = await resp.json().catch(() => null);
  } catch (e) {
    const why = `the codec server at ${url} could not be reached (${e.message || e})`;
    for (const [k] of todo) { cache.set(k, new Undecodable(why)); failedAt.set(k, Date.now()); }
    return;
  }
  if (!resp.ok) {
    // One payload the codec refuses fails the whole request: halve it to find which.
    if (resp.status === 422 && todo.length > 1) {
      const mid = Math.floor(todo.length / 2);
      await decodeBatch(url, todo.slice(0, mid));
      await decodeBatch(url, todo.slice(mid));
      return;
    }
    const err = body && body.error;
    const why = err ? `${err.message} (${err.code})` : `the codec server answered HTTP ${resp.status}`;
    for (const [k] of todo) {
      cache.set(k, new Undecodable(why));
      if (resp.status !== 422 && resp.status !== 400) failedAt.set(k, Date.now());
      else failedAt.delete(k);
    }
    return;
  }
  const out = body && Array.isArray(body.payloads) ? body.payloads : [];
  todo.forEach(([k], i) => {
    const d = out[i];
    failedAt.delete(k);
    if (d && typeof d === "object" && d.encoding === "json" && "data" in d) cache.set(k, new Decoded(d.data));
    else if (d && typeof d === "object" && typeof d.encoding === "string") {
      cache.set(k, new Undecodable(`the codec server left it encoded (${d.encoding})`));
    } else cache.set(k, new Undecodable("the codec server's answer has no payload for it"));
  });
}

/** Whether a value shown holds something decoded, or something that could not be. */
export function decodeMarks(v, depth = 0) {
  const m = {decoded: false, failed: false};
  (function walk(x, d) {
    if (d > 64 || x === null || typeof x !== "object") return;
    if (x instanceof Decoded) { m.decoded = true; return; }
    if (x instanceof Undecodable) { m.failed = true; return; }
    for (const y of Array.isArray(x) ? x : Object.values(x)) walk(y, d + 1);
  })(v, depth);
  return m;
}
