// The workflow's state at any event of its history: a query answered as of that event
// (POST .../query with as_of_event), which a worker answers by replaying the history up to
// the last WORKFLOW_TASK_COMPLETED at or before it into a fresh instance. The last query name
// asked is remembered per workflow type (localStorage), and asked again at once on the next
// event, so stepping through the history is one click per event.

import {Decoded, Undecodable} from "./codec.js";
import {ApiError, errorText, fill, h, jsonBlock, notice, parseArgs, payloads} from "./core.js";

const STACK = "__stack_trace";
const remembered = (type) => `plait.stateQuery.${type}`;

/** The last WORKFLOW_TASK_COMPLETED at or before event n, or null: the state a query as of n
 * reads is the one that task left. */
export function takenAt(events, n) {
  let at = null;
  for (const e of events) {
    if (e.event_id > n) break;
    if (e.event_type === "WORKFLOW_TASK_COMPLETED") at = e.event_id;
  }
  return at;
}

/** The query names this type has been asked (the last first), and the stack. */
function knownNames(type) {
  let last = "";
  try { last = localStorage.getItem(remembered(type)) || ""; } catch { last = ""; }
  return {last, names: [...new Set([last, STACK].filter(Boolean))]};
}

/** The panel for event `eventId`. `ask(name, input, asOf)` resolves to the query's value
 * (unwrapped, decoded) or throws the API's error; `events()` is the run's history so far;
 * `close()` removes the panel. */
export function statePanel({eventId, workflowType, events, ask, close}) {
  const {last, names} = knownNames(workflowType);
  const listId = `state-names-${eventId}`;
  const name = h("input", {id: `state-name-${eventId}`, class: "state-name", list: listId, value: last,
    required: true, autocomplete: "off", spellcheck: "false", placeholder: "query name",
    "aria-label": "Query name"});
  const args = h("input", {type: "text", spellcheck: "false", autocomplete: "off", class: "state-args",
    placeholder: "arguments: JSON (optional)", "aria-label": "Query arguments, a JSON array"});
  const out = h("div", {class: "state-out", "aria-live": "polite"});
  const form = h("form", {class: "inline state-form", "aria-label": `State after event ${eventId}`},
    h("datalist", {id: listId}, names.map((n) => h("option", {value: n}))),
    name, args, h("button", {type: "submit", class: "primary"}, "Show state"),
    h("button", {type: "button", onclick: close}, "Close"));
  const el = h("div", {class: "state-at", dataset: {event: eventId}},
    h("p", {class: "state-title"}, h("strong", {}, `State right after event ${eventId}`),
      h("span", {class: "muted"}, " · the workflow's query, answered by a worker replaying the history up to here")),
    form, out);

  async function run() {
    const q = name.value.trim();
    if (!q) { name.focus(); return; }
    let input;
    try { input = payloads(parseArgs(args.value)); } catch (e) {
      fill(out, notice("error", `The arguments are not JSON: ${e.message}`));
      return;
    }
    try { localStorage.setItem(remembered(workflowType), q); } catch { /* private mode */ }
    fill(out, h("p", {class: "muted"}, `Replaying up to event ${eventId} and asking ${q}…`));
    const at = takenAt(events(), eventId);
    try {
      const v = await ask(q, input, eventId);
      fill(out, h("p", {class: "taken-at"}, at && at !== eventId
        ? `${q} as of event ${at}, the last workflow task completed at or before event ${eventId}:`
        : `${q} as of event ${eventId}:`), valueBlock(v));
    } catch (e) {
      if (e instanceof ApiError && e.code === "query_failed" && /no state to query yet/.test(e.message)) {
        fill(out, notice("info", h("strong", {class: "no-state"}, "No state yet"),
          `: no workflow task had completed by event ${eventId}.`));
      } else fill(out, notice("error", errorText(e)));
    }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  if (last) run(); else queueMicrotask(() => name.focus());
  return el;
}

function valueBlock(v) {
  if (v instanceof Undecodable) return jsonBlock(v, "json result");
  const raw = v instanceof Decoded ? v.value : v;
  if (typeof raw === "string" && raw.includes("\n")) return h("pre", {class: "trace", tabindex: 0}, raw.replace(/\s+$/, ""));
  if (raw === "") return h("p", {class: "muted"}, "(empty)");
  return jsonBlock(v, "json result");
}
