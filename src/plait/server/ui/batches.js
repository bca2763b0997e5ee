// Batch jobs: the page listing a namespace's jobs with their progress (refreshing while any
// runs), and the progress line the workflow list shows for a job it started.

import {
  api, confirmDialog, enc, errorText, fill, h, notice, nsPath, poller, requestId, timeEl,
} from "./core.js";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;

/** "terminate: 12 of 30 done, 1 failed (running)". */
export function progressText(b) {
  const failed = b.failed ? `, ${b.failed} failed` : "";
  return `${b.operation}${b.signal_name ? ` ${b.signal_name}` : ""}: ${b.done} of ${b.total} done${failed} (${b.state})`;
}

/** Which runs a job's filter names, in words. */
function filterText(f) {
  const parts = [];
  if (f.workflow_type) parts.push(`type ${f.workflow_type}`);
  if (f.status) parts.push(`status ${f.status}`);
  for (const [k, v] of Object.entries(f.search_attributes || {})) parts.push(`${k} = ${JSON.stringify(v)}`);
  if (f.started_after) parts.push(`started after ${new Date(f.started_after * 1000).toISOString()}`);
  if (f.started_before) parts.push(`started before ${new Date(f.started_before * 1000).toISOString()}`);
  return parts.join(", ") || "every run";
}

/** Poll a job until it ends, showing its progress in `el`; resolves to its last description. */
export function watchBatch(ns, batchId, el, {onEnd = () => {}} = {}) {
  let stop = () => {};
  const link = () => h("a", {href: `${nsPath(ns)}/batches`}, "Batches");
  const show = (b) => {
    const kind = b.state === "running" ? "info" : b.state === "completed" && !b.failed ? "ok" : "error";
    fill(el, notice(kind, h("span", {class: "batch-progress"}, `Batch ${b.batch_id}, ${progressText(b)}`),
      b.last_error ? ` Last error: ${b.last_error}.` : "", " ", link()));
  };
  const tick = async () => {
    const b = await api(`${nsPath(ns)}/batches/${enc(batchId)}`);
    show(b);
    if (b.state !== "running") { stop(); onEnd(b); }
  };
  tick().catch((e) => fill(el, notice("error", errorText(e))));
  stop = poller(tick, 1000);
  return () => stop();
}

export function render({ns, query, view}) {
  const tbody = h("tbody");
  const message = h("div", {class: "messages"});
  const pager = h("nav", {class: "pager", "aria-label": "Pages"});
  const token = query.get("page") || "";
  let last = "";
  fill(view, h("div", {class: "title"}, h("h1", {}, "Batches"), h("span", {class: "muted"}, `namespace ${ns}`)),
    h("p", {class: "muted"}, "Jobs that terminate, cancel, signal or reset every run a filter matches. "
      + "Start one from the workflow list (select runs, or every run matching the filter)."),
    message,
    h("div", {class: "scroll"}, h("table", {class: "list batches"},
      h("thead", {}, h("tr", {}, ["Batch", "Operation", "Runs", "Progress", "State", "Started (UTC)", ""].map((c) =>
        h("th", {scope: "col"}, c)))), tbody)),
    pager);

  function row(b) {
    const pct = b.total ? Math.round((100 * b.done) / b.total) : 100;
    const cancel = b.state === "running" ? h("button", {type: "button", class: "danger", onclick: async () => {
      const ok = await confirmDialog({title: `Stop batch ${b.batch_id}?`, action: "Stop", reasonLabel: null,
        body: h("p", {}, "Runs it has already acted on stay so; the others are left alone.")});
      if (ok === null) return;
      try {
        await api(`${nsPath(ns)}/batches/${enc(b.batch_id)}/cancel`, {method: "POST", body: {request_id: requestId()}});
        await load();
      } catch (e) { fill(message, notice("error", errorText(e))); }
    }}, "Stop…") : null;
    return h("tr", {dataset: {state: b.state}},
      h("td", {class: "id"}, h("code", {}, b.batch_id), b.reason ? h("div", {class: "muted"}, b.reason) : null),
      h("td", {}, b.operation, b.signal_name ? h("span", {class: "muted"}, ` ${b.signal_name}`) : null),
      h("td", {}, filterText(b.filter)),
      h("td", {class: "num"}, h("progress", {max: 100, value: pct, "aria-label": `${pct}%`}),
        ` ${b.done} of ${b.total}`, b.failed ? h("span", {class: "out-failed", title: b.last_error || ""}, `, ${b.failed} failed`) : null),
      h("td", {}, h("span", {class: `badge st-${b.state === "running" ? "running" : b.state === "completed" ? "completed" : "failed"}`}, b.state)),
      h("td", {}, timeEl(b.start_time, true)),
      h("td", {}, cancel));
  }

  async function load() {
    const q = new URLSearchParams({page_size: String(PAGE_SIZE)});
    if (token) q.set("next_page_token", token);
    try {
      const r = await api(`${nsPath(ns)}/batches?${q}`);
      const key = JSON.stringify(r);
      if (key === last) return;
      last = key;
      fill(tbody, r.batches.length ? r.batches.map(row)
        : h("tr", {}, h("td", {colspan: 7, class: "empty"}, "No batch jobs in this namespace.")));
      const at = (t) => `${nsPath(ns)}/batches${t ? `?page=${enc(t)}` : ""}`;
      fill(pager, token ? h("a", {href: at(""), class: "button"}, "First page") : null,
        r.next_page_token ? h("a", {href: at(r.next_page_token), rel: "next", class: "button"}, "Next page") : null);
    } catch (e) { fill(message, notice("error", errorText(e))); }
  }
  load();
  return poller(load, REFRESH_MS);
}
