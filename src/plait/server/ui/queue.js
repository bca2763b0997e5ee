// A task queue: whether any worker polls it, its backlog and the rate limits in force.
// The JSON API has no task-queue route yet: pollers and backlog come from the gauges the
// server exports at /metrics.

import {api, errorText, fill, h, notice, nsPath, poller, queueGauges} from "./core.js";

const REFRESH_MS = 5000;

export function render({ns, params: [queue], view}) {
  const body = h("div");
  fill(view, h("div", {class: "title"}, h("h1", {}, queue), h("span", {class: "muted"}, "task queue")), body);
  let last = "";

  async function load() {
    try {
      const [g, limits] = await Promise.all([queueGauges(ns), api(`${nsPath(ns)}/rate-limits`)]);
      const mine = (limits.rate_limits || []).filter((l) => l.task_queue === queue);
      const key = JSON.stringify([g && g.pollers[queue], g && g.backlog[queue], mine]);
      if (key === last) return;
      last = key;
      const pollers = g ? g.pollers[queue] || 0 : null;
      const backlog = g ? g.backlog[queue] || {} : {};
      fill(body,
        pollers === null ? notice("info", "Poller counts are not available (the server's /metrics did not answer).")
          : pollers === 0 ? notice("warn", "No worker is polling this task queue: its workflow and activity tasks wait until one starts.")
            : notice("ok", `${pollers} worker session${pollers === 1 ? "" : "s"} polling.`),
        h("section", {}, h("h2", {}, "Backlog (tasks ready that no worker holds)"),
          Object.keys(backlog).length ? h("dl", {class: "summary"}, Object.entries(backlog).map(([k, n]) =>
            [h("dt", {}, k), h("dd", {}, String(n))])) : h("p", {class: "muted"}, "Empty.")),
        h("section", {}, h("h2", {}, "Rate limits"),
          mine.length ? h("table", {class: "list"}, h("thead", {}, h("tr", {}, ["Activity type", "Per second",
            "Burst", "Per key"].map((c) => h("th", {scope: "col"}, c)))),
          h("tbody", {}, mine.map((l) => h("tr", {}, h("td", {}, l.activity_type || "every type"),
            h("td", {}, String(l.per_second)), h("td", {}, String(l.burst ?? "")), h("td", {}, l.per_key ? "yes" : "no")))))
            : h("p", {class: "muted"}, "None.")),
        h("p", {class: "muted"}, "Identities and last-seen times of pollers are not in the API yet."));
    } catch (e) { fill(body, notice("error", errorText(e))); }
  }
  load();
  return poller(load, REFRESH_MS);
}
