// A task queue: the workers polling it, its backlog and the rate limits in force.

import {api, describeQueue, errorText, fill, h, notice, nsPath, poller, ts} from "./core.js";

const REFRESH_MS = 5000;

export function render({ns, params: [queue], view}) {
  const body = h("div");
  fill(view, h("div", {class: "title"}, h("h1", {}, queue), h("span", {class: "muted"}, "task queue")), body);
  let last = "";

  async function load() {
    try {
      const [q, limits] = await Promise.all([describeQueue(ns, queue), api(`${nsPath(ns)}/rate-limits`)]);
      const mine = (limits.rate_limits || []).filter((l) => l.task_queue === queue);
      const key = JSON.stringify([q.pollers.map((p) => p.session_id), q.backlog, mine]);
      if (key === last) return;
      last = key;
      const n = q.pollers.length;
      fill(body,
        n === 0 ? notice("warn", "No worker is polling this task queue: its workflow and activity tasks wait until one starts.")
          : notice("ok", `${n} worker session${n === 1 ? "" : "s"} polling.`),
        n ? h("section", {}, h("h2", {}, "Pollers"), h("table", {class: "list"},
          h("thead", {}, h("tr", {}, ["Identity", "Session", "Runs", "Lease until"].map((c) => h("th", {scope: "col"}, c)))),
          h("tbody", {}, q.pollers.map((p) => h("tr", {}, h("td", {}, p.identity), h("td", {}, p.session_id),
            h("td", {}, [...p.workflow_types, ...p.activity_types].join(", ") || "-"),
            h("td", {}, ts(p.lease_expires_at))))))) : null,
        h("section", {}, h("h2", {}, "Backlog (tasks ready that no worker holds)"),
          q.backlog.length ? h("dl", {class: "summary"}, q.backlog.map((b) =>
            [h("dt", {}, b.kind), h("dd", {title: `oldest ready since ${ts(b.oldest_ready_time)}`}, String(b.count))]))
            : h("p", {class: "muted"}, "Empty.")),
        h("section", {}, h("h2", {}, "Rate limits"),
          mine.length ? h("table", {class: "list"}, h("thead", {}, h("tr", {}, ["Activity type", "Per second",
            "Burst", "Per key"].map((c) => h("th", {scope: "col"}, c)))),
          h("tbody", {}, mine.map((l) => h("tr", {}, h("td", {}, l.activity_type || "every type"),
            h("td", {}, String(l.per_second)), h("td", {}, String(l.burst ?? "")), h("td", {}, l.per_key ? "yes" : "no")))))
            : h("p", {class: "muted"}, "None.")));
    } catch (e) { fill(body, notice("error", errorText(e))); }
  }
  load();
  return poller(load, REFRESH_MS);
}
