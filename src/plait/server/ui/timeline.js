// A run's timeline: one row per activity (a bar per attempt, so retries stand out), per timer
// and per child, and one row of signal ticks, on a shared time axis from the run's start to
// its close (or now); past 100 rows, one row per activity type instead, and past 240 bars in
// a row, the bars that fall in the same 1/240th of the axis (with the same outcome) are drawn
// as one, so a run with 50,000 signals draws a few hundred bars. Bars are positioned through
// the CSSOM (the page's CSP allows no inline style attributes).

import {dur, h, now, toSeconds} from "./core.js";

const MAX_ROWS = 100;
const MAX_BARS = 240;  // per row: more cannot be told apart on a screen-wide axis

/** Rows of [label, [{start, end, cls, title}]] from the attempt log and the history. */
function rows(desc, events) {
  const out = new Map();
  const row = (key, label, group) => {
    if (!out.has(key)) out.set(key, {label, group, spans: []});
    return out.get(key);
  };
  for (const a of desc.attempts || []) {
    const r = row(`a${a.activity_id}`, `${a.activity_type} #${a.activity_id}`, a.activity_type);
    const end = a.ended_at ?? null;
    r.spans.push({start: a.started_at, end, cls: `out-${a.outcome || "running"}`,
      title: `${a.activity_type} #${a.activity_id} attempt ${a.attempt}: ${a.outcome || "running"}`
        + `, ${dur((end ?? now()) - a.started_at)}${a.failure ? ` (${a.failure.message})` : ""}`});
  }
  const open = new Map();
  for (const e of events) {
    const a = e.attributes || {}, t = toSeconds(e.timestamp);
    switch (e.event_type) {
      case "TIMER_STARTED":
        open.set(`t${a.timer_id}`, t);
        break;
      case "TIMER_FIRED": case "TIMER_CANCELED": {
        const start = open.get(`t${a.timer_id}`);
        if (start === undefined) break;
        open.delete(`t${a.timer_id}`);
        row(`t${a.timer_id}`, `timer ${a.timer_id}`, "timers").spans.push({start, end: t,
          cls: e.event_type === "TIMER_FIRED" ? "timer" : "timer canceled",
          title: `timer ${a.timer_id}: ${e.event_type === "TIMER_FIRED" ? "fired" : "canceled"} after ${dur(t - start)}`});
        break;
      }
      case "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
        open.set(`c${a.workflow_id}`, t);
        break;
      case "WORKFLOW_EXECUTION_SIGNALED":
        row("signals", "signals", "signals").spans.push({start: t, end: t, cls: "tick",
          title: `signal ${a.signal_name} at +${dur(t - desc.start_time)}`});
        break;
      default:
        if (e.event_type.startsWith("CHILD_WORKFLOW_EXECUTION_") && e.event_type !== "CHILD_WORKFLOW_EXECUTION_STARTED") {
          const start = open.get(`c${a.workflow_id}`);
          if (start === undefined) break;
          open.delete(`c${a.workflow_id}`);
          const how = e.event_type.replace("CHILD_WORKFLOW_EXECUTION_", "").toLowerCase();
          row(`c${a.workflow_id}`, `child ${a.workflow_id}`, "children").spans.push({start, end: t,
            cls: `child out-${how}`, title: `child ${a.workflow_id}: ${how} after ${dur(t - start)}`});
        }
    }
  }
  // Still running timers and children run to now.
  for (const [key, start] of open) {
    const label = key.startsWith("t") ? `timer ${key.slice(1)}` : `child ${key.slice(1)}`;
    row(key, label, key.startsWith("t") ? "timers" : "children").spans.push({start, end: null,
      cls: key.startsWith("t") ? "timer" : "child",
      title: `${label}: pending for ${dur(now() - start)}`});
  }
  const all = [...out.values()];
  return all.length <= MAX_ROWS ? all : aggregate(all);
}

/** Too many rows to read: one row per activity type (and one for timers, children, signals),
 * each holding every bar of its group, labelled with how many it stands for. */
function aggregate(all) {
  const groups = new Map();
  for (const r of all) {
    if (!groups.has(r.group)) groups.set(r.group, {rows: 0, spans: []});
    const g = groups.get(r.group);
    g.rows++;
    g.spans.push(...r.spans);
  }
  return [...groups].map(([name, g]) => {
    const failed = g.spans.filter((sp) => /out-(failed|timed_out)/.test(sp.cls)).length;
    const what = ["timers", "children", "signals"].includes(name) ? `${g.spans.length}`
      : `${g.rows} activities, ${g.spans.length} attempts${failed ? `, ${failed} failed` : ""}`;
    // Failed bars last, so they are drawn on top of the many that completed.
    const bad = (sp) => /out-(failed|timed_out)/.test(sp.cls);
    const spans = g.spans.filter((sp) => !bad(sp)).concat(g.spans.filter(bad));
    return {label: `${name}: ${what}`, spans, aggregated: true};
  });
}

/** At most MAX_BARS bars per outcome: the spans that start in the same slice of the axis
 * and share an outcome become one bar from the first start to the last end, titled with how
 * many it stands for. */
function thin(spans, t0, span) {
  if (spans.length <= MAX_BARS) return spans;
  const bins = new Map();
  for (const sp of spans) {
    const slot = Math.min(MAX_BARS - 1, Math.max(0, Math.floor((sp.start - t0) / span * MAX_BARS)));
    const key = `${sp.cls}|${slot}`;
    const b = bins.get(key);
    if (!b) { bins.set(key, {...sp, n: 1}); continue; }
    b.n++;
    b.start = Math.min(b.start, sp.start);
    b.end = b.end === null || sp.end === null ? null : Math.max(b.end, sp.end);
  }
  const bad = (sp) => /out-(failed|timed_out)/.test(sp.cls);
  const out = [...bins.values()].map((b) => b.n === 1 ? b : {...b,
    title: `${b.n} ${b.cls === "tick" ? "signals" : "bars"} from +${dur(b.start - t0)} to `
      + `+${dur((b.end ?? now()) - t0)}; the first: ${b.title}`});
  return out.filter((sp) => !bad(sp)).concat(out.filter(bad));
}

/** The timeline element, or null when the run did nothing worth a row. */
export function timeline(desc, events) {
  const all = rows(desc, events);
  if (!all.length) return null;
  const t0 = desc.start_time;
  const t1 = Math.max(desc.close_time ?? now(), t0 + 0.001);
  const span = t1 - t0;
  const pct = (t) => `${(Math.min(Math.max((t - t0) / span, 0), 1) * 100).toFixed(3)}%`;
  const shown = all.slice(0, MAX_ROWS);
  return h("div", {class: "timeline"},
    h("div", {class: "row axis", "aria-hidden": "true"}, h("span"),
      h("div", {}, h("span", {}, "+0"), h("span", {}, `+${dur(span)}`))),
    h("ul", {}, shown.map((r) => {
      const track = h("div", {class: "track"});
      for (const sp of thin(r.spans, t0, span)) {
        const bar = h("span", {class: `bar ${sp.cls}`, title: sp.title, role: "img", "aria-label": sp.title});
        bar.style.left = pct(sp.start);
        bar.style.width = sp.cls === "tick" ? "" : `calc(${pct(sp.end ?? t1)} - ${pct(sp.start)})`;
        track.append(bar);
      }
      const retries = !r.aggregated && r.spans.length > 1 && r.label.includes("#") ? ` ×${r.spans.length}` : "";
      return h("li", {class: "row"}, h("span", {class: r.aggregated ? "label wrap" : "label", title: r.label}, r.label, retries ? h("b", {}, retries) : null), track);
    })),
    all.length > shown.length ? h("p", {class: "muted"}, `and ${all.length - shown.length} more rows (see the attempt log)`) : null,
    all.some((r) => r.aggregated) ? h("p", {class: "muted"}, "Rows are grouped by activity type: the run has too many to show one each.") : null);
}
