// Acting on many runs from the workflow list: terminate, cancel, signal, reset, pause or
// unpause either the runs selected on the page (one call per run: the batch filter cannot
// name workflow ids), or every run the current filter matches (one batch job, POST .../batches, whose progress is
// followed until it ends). Each is confirmed with the count of runs it acts on.

import {
  api, confirmDialog, enc, errorText, fill, h, notice, nsPath, parseArgs, payloads, requestId,
} from "./core.js";
import {watchBatch} from "./batches.js";

const VERBS = {terminate: "Terminate", cancel: "Cancel", signal: "Signal", reset: "Reset",
  pause: "Pause", unpause: "Unpause"};
const DONE = {terminate: "Terminated", cancel: "Asked to cancel", signal: "Signaled", reset: "Reset",
  pause: "Paused", unpause: "Unpaused"};

/** The batch filter (protocol/batches.py BatchFilter) of the list's API filter. */
export function batchFilter(apiQuery) {
  const f = {};
  if (apiQuery.get("type")) f.workflow_type = apiQuery.get("type");
  if (apiQuery.get("status")) f.status = apiQuery.get("status");
  if (apiQuery.get("search_attributes")) f.search_attributes = JSON.parse(apiQuery.get("search_attributes"));
  for (const k of ["started_after", "started_before"]) if (apiQuery.get(k)) f[k] = Number(apiQuery.get(k));
  return f;
}

/** The operation's own fields, asked in its confirmation dialog. */
function optionFields(kind) {
  if (kind === "signal") {
    const name = h("input", {id: "bulk-signal-name", required: true, autocomplete: "off", spellcheck: "false"});
    const args = h("textarea", {id: "bulk-signal-args", rows: 2, spellcheck: "false", placeholder: '["dana"]'});
    return {els: [h("label", {for: "bulk-signal-name"}, "Signal name"), name,
      h("label", {for: "bulk-signal-args"}, "Arguments (JSON array, one item per argument)"), args],
    read: () => {
      if (!name.value.trim()) throw new Error("a signal needs a name");
      return {signal_name: name.value.trim(), input: payloads(parseArgs(args.value))};
    }};
  }
  if (kind === "reset") {
    const to = h("select", {id: "bulk-reset-to"},
      h("option", {value: "last_workflow_task"}, "the last completed workflow task"),
      h("option", {value: "first_workflow_task"}, "the first workflow task (start over)"));
    const sig = h("input", {type: "checkbox", id: "bulk-reset-signals", checked: true});
    return {els: [h("label", {for: "bulk-reset-to"}, "Reset each run to"), to,
      h("label", {class: "check"}, sig, " Deliver the signals received after it again")],
    read: () => ({to: to.value, reapply_signals: sig.checked})};
  }
  return {els: [], read: () => ({})};
}

/** The list's batch bar. `selected` is the page's Map of chosen runs; `filter()` the list's
 * current API filter (URLSearchParams); `reload()` redraws the list afterwards. */
export function batchBar({ns, selected, filter, reload}) {
  let allMatching = null;  // {count} once "select all matching" is on
  const info = h("span", {class: "sel-info", "aria-live": "polite"});
  const allBtn = h("button", {type: "button", class: "link"}, "Select all matching the filter");
  const clearBtn = h("button", {type: "button", class: "link", hidden: true}, "Clear selection");
  const buttons = Object.entries(VERBS).map(([kind, verb]) => h("button", {type: "button",
    class: kind === "terminate" || kind === "reset" ? "danger" : null, disabled: true,
    dataset: {op: kind}, onclick: () => act(kind)}, `${verb}…`));
  const progress = h("div", {class: "messages batch-status"});
  const el = h("div", {}, h("div", {class: "batch"}, info, allBtn, clearBtn, buttons), progress);
  let stopWatch = () => {};

  function update() {
    const n = allMatching ? allMatching.count : selected.size;
    info.textContent = allMatching ? `All ${n} run${n === 1 ? "" : "s"} matching the filter selected.`
      : n ? `${n} selected` : "";
    for (const b of buttons) {
      b.disabled = n === 0;
      b.textContent = `${VERBS[b.dataset.op]} ${allMatching ? "all matching" : "selected"}…`;
    }
    clearBtn.hidden = !allMatching && selected.size === 0;
    allBtn.hidden = Boolean(allMatching);
  }

  allBtn.addEventListener("click", async () => {
    try {
      const r = await api(`${nsPath(ns)}/workflow-count?${filter()}`);
      allMatching = {count: r.count};
      update();
    } catch (e) { fill(progress, notice("error", errorText(e))); }
  });
  clearBtn.addEventListener("click", () => { allMatching = null; selected.clear(); reload(); update(); });

  async function act(kind) {
    const opts = optionFields(kind);
    let count, title, scope;
    if (allMatching) {
      const q = filter();
      const running = kind !== "reset";
      if (running && q.get("status") && q.get("status") !== "RUNNING") {
        fill(progress, notice("error", `${VERBS[kind]} acts on running runs only: the filter asks for ${q.get("status")}.`));
        return;
      }
      if (running) q.set("status", "RUNNING");
      try { count = (await api(`${nsPath(ns)}/workflow-count?${q}`)).count; } catch (e) {
        fill(progress, notice("error", errorText(e))); return;
      }
      title = `${VERBS[kind]} ${count} run${count === 1 ? "" : "s"} matching the filter?`;
      scope = h("p", {}, `A batch job acts on the ${running ? "running " : ""}runs that match the filter `
        + "when it starts, a few dozen a second; its progress shows here and on the Batches page.");
    } else {
      const runs = [...selected.values()];
      count = runs.length;
      title = `${VERBS[kind]} ${count} run${count === 1 ? "" : "s"}?`;
      scope = h("ul", {class: "short"}, runs.slice(0, 10).map((r) => h("li", {}, r.workflow_id)),
        runs.length > 10 ? h("li", {}, `and ${runs.length - 10} more`) : null);
    }
    const reason = await confirmDialog({title, body: [scope, ...opts.els], action: VERBS[kind],
      danger: kind === "terminate" || kind === "reset",
      reasonLabel: kind === "signal" || kind === "unpause" ? null : "Reason"});
    if (reason === null) return;
    let extra;
    try { extra = opts.read(); } catch (e) { fill(progress, notice("error", `Not sent: ${e.message}.`)); return; }
    if (allMatching) await startJob(kind, reason, extra);
    else await oneByOne(kind, reason, extra);
  }

  async function startJob(kind, reason, extra) {
    const body = {operation: kind, filter: batchFilter(filter()), reason: reason || "",
      identity: "plait console", request_id: requestId()};
    if (kind === "signal") Object.assign(body, extra);
    if (kind === "reset") body.reset = extra;
    try {
      const b = await api(`${nsPath(ns)}/batches`, {method: "POST", body});
      allMatching = null;
      update();
      stopWatch();
      stopWatch = watchBatch(ns, b.batch_id, progress, {onEnd: () => reload()});
    } catch (e) { fill(progress, notice("error", errorText(e))); }
  }

  async function oneByOne(kind, reason, extra) {
    const runs = [...selected.values()];
    const failed = [];
    const line = notice("info", "");
    fill(progress, line);
    for (const [i, r] of runs.entries()) {
      line.textContent = `${VERBS[kind]}: ${i + 1} of ${runs.length}…`;
      const body = {run_id: r.run_id, request_id: requestId()};
      if (kind === "signal") Object.assign(body, extra, {identity: "plait console"});
      else if (kind !== "unpause") {
        Object.assign(body, {reason: reason || undefined}, kind === "reset" ? extra : {});
      }
      try {
        await api(`${nsPath(ns)}/workflows/${enc(r.workflow_id)}/${kind}`, {method: "POST", body});
      } catch (e) { failed.push(`${r.workflow_id}: ${errorText(e)}`); }
    }
    selected.clear();
    fill(progress, notice(failed.length ? "error" : "ok",
      `${DONE[kind]} ${runs.length - failed.length} of ${runs.length}.`,
      failed.length ? h("ul", {}, failed.map((t) => h("li", {}, t))) : null));
    update();
    await reload();
  }

  /** The filter changed or a box was unticked: back to the page's own selection. */
  function reset() { allMatching = null; update(); }

  update();
  return {el, update, reset, dispose: () => stopWatch()};
}
