// Schedules: the list (paged with the API's token) and one schedule (its spec, next times,
// recent actions, running runs) with pause, unpause and trigger.

import {codecGeneration, decodeFor} from "./codec.js";
import {
  api, confirmDialog, dur, enc, errorText, fill, h, jsonBlock, notice, nsPath, poller,
  requestId, timeEl, unwrap,
} from "./core.js";

const REFRESH_MS = 5000;
const PAGE_SIZE = 100;

export function renderList({ns, query, view}) {
  const base = `${nsPath(ns)}/schedules`;
  const tbody = h("tbody");
  const message = h("div", {class: "messages"});
  const pager = h("nav", {class: "pager", "aria-label": "Pages"});
  const token = query.get("page") || "";
  fill(view, h("div", {class: "title"}, h("h1", {}, "Schedules"), h("span", {class: "muted"}, `namespace ${ns}`)),
    message,
    h("div", {class: "scroll"}, h("table", {class: "list"},
      h("thead", {}, h("tr", {}, ["Schedule ID", "Workflow type", "State", "Next run (UTC)"].map((c) =>
        h("th", {scope: "col"}, c)))), tbody)),
    pager);

  async function load() {
    const q = new URLSearchParams({page_size: String(PAGE_SIZE)});
    if (token) q.set("next_page_token", token);
    try {
      const r = await api(`${nsPath(ns)}/schedules?${q}`);
      fill(tbody, r.schedules.length ? r.schedules.map((sc) => h("tr", {},
        h("td", {class: "id"}, h("a", {href: `${base}/${enc(sc.schedule_id)}`}, sc.schedule_id)),
        h("td", {}, h("a", {href: `${nsPath(ns)}/workflows?type=${enc(sc.workflow_type)}`}, sc.workflow_type)),
        h("td", {}, sc.paused ? h("span", {class: "badge st-paused"}, "PAUSED") : h("span", {class: "badge st-running"}, "ACTIVE")),
        h("td", {}, sc.next_action_time ? timeEl(sc.next_action_time, true) : h("span", {class: "muted"}, "none"))))
        : h("tr", {}, h("td", {colspan: 4, class: "empty"}, "No schedules in this namespace.")));
      fill(pager, token ? h("a", {href: base, class: "button"}, "First page") : null,
        r.next_page_token ? h("a", {href: `${base}?page=${enc(r.next_page_token)}`, class: "button", rel: "next"}, "Next page") : null);
      fill(message);
    } catch (e) { fill(message, notice("error", errorText(e))); }
  }
  load();
  return poller(load, REFRESH_MS);
}

export function renderOne({ns, params: [sid], view, navigate}) {
  const apiBase = `${nsPath(ns)}/schedules/${enc(sid)}`;
  const wfBase = `${nsPath(ns)}/workflows`;
  const body = h("div");
  const out = h("div", {class: "messages", "aria-live": "polite"});
  const actions = h("div", {class: "buttons"});
  fill(view, h("div", {class: "title"}, h("h1", {}, sid), h("span", {class: "muted"}, "schedule")),
    actions, out, body);
  let last = "";

  async function act(action, label, needNote) {
    let note = "";
    if (needNote) {
      note = await confirmDialog({title: `${label} schedule ${sid}?`, action: label, danger: false,
        reasonLabel: "Note"});
      if (note === null) return;
    }
    try {
      const req = {request_id: requestId()};
      if (needNote) req.note = note;
      await api(`${apiBase}/${action}`, {method: "POST", body: req});
      fill(out, notice("ok", `${label}: done.`));
      await load();
    } catch (e) { fill(out, notice("error", errorText(e))); }
  }

  /** Run every due time in a range now, in order (the API's backfill). */
  function backfillForm() {
    const start = h("input", {type: "datetime-local", step: 1, id: "bf-start", required: true});
    const end = h("input", {type: "datetime-local", step: 1, id: "bf-end", required: true});
    const form = h("form", {class: "inline", "aria-label": "Backfill"},
      h("label", {}, "From (UTC) ", start), h("label", {}, "to ", end),
      h("button", {type: "submit"}, "Backfill"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const t = (input) => Date.parse(input.value + "Z") / 1000;
      try {
        await api(`${apiBase}/backfill`, {method: "POST",
          body: {start: t(start), end: t(end), request_id: requestId()}});
        fill(out, notice("ok", "Backfill: done."));
        await load();
      } catch (err) { fill(out, notice("error", errorText(err))); }
    });
    return form;
  }

  async function remove() {
    const ok = await confirmDialog({title: `Delete schedule ${sid}?`, action: "Delete",
      reasonLabel: null, body: h("p", {}, "Runs it already started are not touched.")});
    if (ok === null) return;
    try {
      await api(apiBase, {method: "DELETE"});
      navigate(`${nsPath(ns)}/schedules`);
    } catch (err) { fill(out, notice("error", errorText(err))); }
  }

  function draw(d) {
    const def = d.definition;
    const spec = def.cron ? `cron ${def.cron}` : `every ${dur(def.interval)}${def.offset ? ` (offset ${dur(def.offset)})` : ""}`;
    fill(actions,
      def.paused ? h("button", {type: "button", onclick: () => act("unpause", "Unpause", true)}, "Unpause…")
        : h("button", {type: "button", onclick: () => act("pause", "Pause", true)}, "Pause…"),
      h("button", {type: "button", onclick: () => act("trigger", "Trigger", false)}, "Trigger now"),
      backfillForm(),
      h("button", {type: "button", class: "danger", onclick: remove}, "Delete…"));
    const rows = [
      ["State", def.paused ? h("span", {class: "badge st-paused"}, "PAUSED") : h("span", {class: "badge st-running"}, "ACTIVE")],
      def.note ? ["Note", def.note] : null,
      ["Spec", `${spec}, time zone ${def.timezone || "UTC"}`],
      ["Workflow", [h("a", {href: `${wfBase}?type=${enc(def.workflow_type)}`}, def.workflow_type),
        " on task queue ", h("a", {href: `${nsPath(ns)}/task-queues/${enc(def.task_queue)}`}, def.task_queue)]],
      ["Workflow ID prefix", h("code", {}, def.workflow_id || sid)],
      // Defaults are left out of the wire struct (omit_defaults): show them as the server applies them.
      ["Overlap policy", def.overlap || "skip"],
      ["Catch-up window", dur(def.catchup_window ?? 365 * 86400)],
      def.jitter ? ["Jitter", dur(def.jitter)] : null,
      def.start_at ? ["Starts at", timeEl(def.start_at)] : null,
      def.end_at ? ["Ends at", timeEl(def.end_at)] : null,
      ["Actions taken", `${d.num_actions} (skipped ${d.num_skipped}, buffered ${d.buffered})`],
      d.remaining_actions !== null && d.remaining_actions !== undefined ? ["Remaining actions", String(d.remaining_actions)] : null,
      ["Input", def.input && def.input.length ? jsonBlock(def.input.map(unwrap))
        : h("span", {class: "muted"}, "no arguments")],
    ].filter(Boolean);
    const q = new URLSearchParams({search_attribute: `ScheduleId=${sid}`});
    fill(body,
      h("section", {}, h("h2", {}, "Definition"),
        h("dl", {class: "summary"}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      h("section", {}, h("h2", {}, "Next runs"),
        d.next_action_times.length ? h("ol", {class: "times"}, d.next_action_times.map((t) => h("li", {}, timeEl(t))))
          : h("p", {class: "muted"}, def.paused ? "None while paused." : "None.")),
      h("section", {}, h("h2", {}, `Running (${d.running_workflow_ids.length})`),
        d.running_workflow_ids.length ? h("ul", {class: "short"}, d.running_workflow_ids.map((w) =>
          h("li", {}, h("a", {href: `${wfBase}/${enc(w)}`}, w)))) : h("p", {class: "muted"}, "None.")),
      h("section", {}, h("h2", {}, "Recent actions"),
        d.recent_actions.length ? h("div", {class: "scroll"}, h("table", {class: "list"},
          h("thead", {}, h("tr", {}, ["Scheduled for (UTC)", "Started at (UTC)", "Workflow"].map((c) => h("th", {scope: "col"}, c)))),
          h("tbody", {}, [...d.recent_actions].reverse().map((a) => h("tr", {},
            h("td", {}, timeEl(a.scheduled_time, true)), h("td", {}, timeEl(a.actual_time, true)),
            h("td", {class: "id"}, h("a", {href: `${wfBase}/${enc(a.workflow_id)}/${enc(a.run_id)}`}, a.workflow_id)))))))
          : h("p", {class: "muted"}, "None yet."),
        h("p", {}, h("a", {href: `${wfBase}?${q}`}, "Every run this schedule started"))));
  }

  async function load() {
    try {
      const d = await api(apiBase);
      await decodeFor(d);  // the runs' input, if a codec encoded it (codec.js)
      const key = JSON.stringify([d, codecGeneration()]);
      if (key !== last) { last = key; draw(d); }
    } catch (e) { fill(out, notice("error", errorText(e))); }
  }
  load();
  return poller(load, REFRESH_MS);
}
