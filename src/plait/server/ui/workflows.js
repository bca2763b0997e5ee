// The workflow list: filters in the query string (applied as you type), counts per status,
// paging with the API's page token, live refresh that can be paused, and terminate, cancel,
// signal or reset of the selected runs or of every run the filter matches (batch_actions.js).
//
// A live refresh asks with the ETag of the last answer (apiIfChanged): while nothing shown
// changed, the server answers 304 and the page touches nothing but the running runs'
// durations. When something changed, only the rows that changed are drawn again (rows.js).

import {batchBar} from "./batch_actions.js";
import {
  apiIfChanged, debounce, dur, enc, errorText, fill, h, notice, now, nsPath, poller, STATUSES,
  statusBadge, timeEl,
} from "./core.js";
import {keyedRows} from "./rows.js";

const PAGE_SIZE = 50;
const LIVE_MS = 3000;
// The counts per status read every matching run (one grouped query): live refresh asks for
// them every fourth time only (the rows every time).
const COUNT_EVERY = 4;
// token -> the token of the page before it, so "Previous page" works within a visit.
const previousOf = new Map();
// The last counts drawn, with their filter: paging through a filter's runs shows them again
// instead of asking the server for the same counts on every page (live refresh renews them).
let lastCounts = {key: "", at: 0, values: null};

/** The API filter (query string of /workflows and /workflow-count) from the page's URL query. */
export function apiFilter(query, {withStatus = true} = {}) {
  const q = new URLSearchParams();
  if (query.get("type")) q.set("type", query.get("type"));
  if (withStatus && query.get("status")) q.set("status", query.get("status"));
  const sa = searchAttributes(query.getAll("search_attribute"));
  if (Object.keys(sa).length) q.set("search_attributes", JSON.stringify(sa));
  for (const k of ["started_after", "started_before"]) {
    const t = utcSeconds(query.get(k));
    if (t !== null) q.set(k, String(t));
  }
  return q;
}

/** "KEY=VALUE" pairs as a search-attribute filter; VALUE is read as JSON when it parses
 * (numbers, true), else as a string. */
function searchAttributes(pairs) {
  const out = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) continue;
    const key = p.slice(0, i).trim(), raw = p.slice(i + 1).trim();
    let value = raw;
    try { value = JSON.parse(raw); } catch { value = raw; }
    if (key) out[key] = value;
  }
  return out;
}

/** "2026-12-06T14:00[:ss]" (UTC) -> unix seconds; anything else -> null. */
function utcSeconds(text) {
  if (!text) return null;
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : text + "Z");
  return Number.isNaN(t) ? null : t / 1000;
}

/** How long a running run has run, as the list shows it: to the second for its first minute,
 * then to the minute ("3 min", "2 h 4 min"), so that a page of long-running runs is drawn
 * again once a minute, not on every live refresh. */
function runningFor(s) {
  if (s < 60) return dur(s);
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min` : dur(m * 60);
}

export function render({ns, query, view, navigate}) {
  const base = `${nsPath(ns)}/workflows`;
  const selected = new Map();  // "wid\0rid" -> {workflow_id, run_id}
  let live = localStorage.getItem("plait.live") !== "off";
  let controller = null;
  let shownList = null;  // the list answer drawn (a 304 gives back the same object)
  let countsDrawn = "";
  let pagerDrawn = "";
  let ticks = 0;
  // A load that was to bring the counts and was cut short (a newer load aborts it) leaves
  // them owed, so the next load brings them rather than the live refresh's fourth tick.
  let countsOwed = false;

  // -- filters --------------------------------------------------------------------------------
  const f = {
    type: h("input", {id: "f-type", type: "search", value: query.get("type") || "",
      placeholder: "any", autocomplete: "off", spellcheck: "false"}),
    status: h("select", {id: "f-status"}, h("option", {value: ""}, "any"),
      STATUSES.map((s) => h("option", {value: s}, s))),
    sa: h("input", {id: "f-sa", type: "search", value: query.getAll("search_attribute").join(", "),
      placeholder: "KEY=VALUE, …", autocomplete: "off", spellcheck: "false",
      title: 'KEY=VALUE pairs, separated by commas; a VALUE that parses as JSON is read as JSON (42, true; "42" for the string)'}),
    after: h("input", {id: "f-after", type: "datetime-local", step: 1,
      value: query.get("started_after") || ""}),
    before: h("input", {id: "f-before", type: "datetime-local", step: 1,
      value: query.get("started_before") || ""}),
  };
  f.status.value = query.get("status") || "";

  function filtersQuery() {
    const q = new URLSearchParams();
    if (f.type.value.trim()) q.set("type", f.type.value.trim());
    if (f.status.value) q.set("status", f.status.value);
    for (const p of f.sa.value.split(",").map((s) => s.trim()).filter((s) => s.includes("="))) {
      q.append("search_attribute", p);
    }
    if (f.after.value) q.set("started_after", f.after.value);
    if (f.before.value) q.set("started_before", f.before.value);
    return q;
  }

  // Typing changes the URL in place (no history entry per key) and reloads from the first page.
  const applyFilters = debounce(() => {
    const q = filtersQuery();
    const url = base + (q.toString() ? "?" + q : "");
    if (url !== location.pathname + location.search) {
      history.replaceState(null, "", url);
      query = q;
      bar.reset();
      load();
    }
  }, 300);
  for (const el of Object.values(f)) el.addEventListener("input", applyFilters);
  f.status.addEventListener("change", applyFilters);

  const counts = h("ul", {class: "counts", "aria-label": "Runs per status"});
  const liveBtn = h("button", {type: "button", "aria-pressed": String(live)});
  const liveState = () => {
    liveBtn.setAttribute("aria-pressed", String(live));
    liveBtn.textContent = live ? "Live: on (pause)" : "Live: paused (resume)";
  };
  liveState();
  liveBtn.addEventListener("click", () => {
    live = !live;
    localStorage.setItem("plait.live", live ? "on" : "off");
    liveState();
    if (live) load();
  });
  const updated = h("span", {class: "muted", "aria-live": "off", id: "checked"});
  // When the list was last asked, to the minute: a text that changed on every refresh would
  // have the browser lay out and paint the page every 3 s for nothing. The second is in an
  // attribute (not drawn).
  function checked() {
    const at = new Date().toISOString();
    updated.dataset.checked = at;
    const text = `Checked ${at.slice(11, 16)} UTC`;
    if (updated.textContent !== text) updated.textContent = text;
  }

  // -- table and batch actions ------------------------------------------------------------------
  const allBox = h("input", {type: "checkbox", "aria-label": "Select every run on this page"});
  const tbody = h("tbody");
  const table = h("table", {class: "list"},
    h("caption", {class: "sr-only"}, "Workflow runs"),
    h("thead", {}, h("tr", {},
      h("th", {scope: "col", class: "sel"}, allBox), h("th", {scope: "col"}, "Workflow ID"),
      h("th", {scope: "col"}, "Type"), h("th", {scope: "col"}, "Status"),
      h("th", {scope: "col"}, "Task queue"), h("th", {scope: "col"}, "Started (UTC)"),
      h("th", {scope: "col"}, "Duration"))),
    tbody);
  const message = h("div", {class: "messages"});
  const pager = h("nav", {class: "pager", "aria-label": "Pages"});
  const bar = batchBar({ns, selected, filter: () => apiFilter(query),
    reload: () => { lastCounts.key = ""; syncSelection(); return load(); }});
  const rows = keyedRows(tbody, {
    key: (w) => `${w.workflow_id}\0${w.run_id}`,
    build: row,
    empty: () => h("tr", {}, h("td", {colspan: 7, class: "empty"}, "No workflow runs match.")),
  });

  /** The rows' boxes as `selected` says (a batch action clears it). */
  function syncSelection() {
    for (const r of rows.rows()) r.box.checked = selected.has(r.key);
    selectionChanged();
  }

  function selectionChanged() {
    bar.update();
    const boxes = [...tbody.querySelectorAll("input[type=checkbox]")];
    allBox.checked = boxes.length > 0 && boxes.every((b) => b.checked);
  }
  allBox.addEventListener("change", () => {
    const on = allBox.checked;
    for (const b of tbody.querySelectorAll("input[type=checkbox]")) {
      b.checked = on;
      b.dispatchEvent(new Event("change"));
    }
  });

  function row(w) {
    const key = `${w.workflow_id}\0${w.run_id}`;
    const box = h("input", {type: "checkbox", checked: selected.has(key),
      "aria-label": `Select ${w.workflow_id}`});
    box.addEventListener("change", () => {
      if (box.checked) selected.set(key, {workflow_id: w.workflow_id, run_id: w.run_id});
      else { selected.delete(key); bar.reset(); }
      selectionChanged();
    });
    const closed = w.close_time !== null && w.close_time !== undefined;
    const took = h("td", {class: "num"}, closed ? dur(w.close_time - w.start_time)
      : runningFor(now() - w.start_time));
    const el = h("tr", {dataset: {status: w.status}},
      h("td", {class: "sel"}, box),
      h("td", {class: "id"}, h("a", {href: `${base}/${enc(w.workflow_id)}/${enc(w.run_id)}`}, w.workflow_id)),
      h("td", {}, w.workflow_type),
      h("td", {}, statusBadge(w.status)),
      h("td", {}, h("a", {href: `${nsPath(ns)}/task-queues/${enc(w.task_queue)}`}, w.task_queue)),
      h("td", {}, timeEl(w.start_time, true)),
      took);
    // A running run's duration grows: its text node is rewritten when the shown value moves.
    return {el, key, box, growing: closed ? null : {text: took.firstChild, start: w.start_time}};
  }

  function tickDurations() {
    for (const r of rows.rows()) {
      if (!r.growing) continue;
      const shown = runningFor(now() - r.growing.start);
      if (r.growing.text.data !== shown) r.growing.text.data = shown;
    }
  }

  // -- loading --------------------------------------------------------------------------------
  // The load under way, if any. A live refresh that comes while one is (the page's first load,
  // or one a filter change began) waits for it rather than cutting it short to ask again: that
  // load brings fresh rows, and on a slow server aborting it throws its work away and makes
  // the page wait for a second load.
  let underway = null;

  function load({live: fromLive = false} = {}) {
    if (fromLive && underway) return underway;
    const loading = fetchAndDraw(fromLive);
    underway = loading;
    const done = () => { if (underway === loading) underway = null; };
    loading.then(done, done);
    return loading;
  }

  async function fetchAndDraw(fromLive) {
    const countQ = apiFilter(query, {withStatus: false});
    const countKey = `${ns}?${countQ}`;
    const fresh = lastCounts.key === countKey && Date.now() - lastCounts.at < LIVE_MS * COUNT_EVERY;
    if (!fromLive && fresh) renderCounts(lastCounts.values);
    const withCounts = (fromLive ? ticks++ % COUNT_EVERY === COUNT_EVERY - 1 : !fresh)
      || countsOwed;
    countsOwed = withCounts;
    if (controller) controller.abort();
    controller = new AbortController();
    const {signal} = controller;
    const token = query.get("page") || "";
    const listQ = apiFilter(query);
    listQ.set("page_size", String(PAGE_SIZE));
    if (token) listQ.set("next_page_token", token);
    countQ.set("group_by", "status");  // every status's count in one request
    try {
      const [{data: list}, counted] = await Promise.all([
        apiIfChanged(`${nsPath(ns)}/workflows?${listQ}`, {signal}),
        withCounts ? apiIfChanged(`${nsPath(ns)}/workflow-count?${countQ}`, {signal}) : null]);
      if (signal.aborted) return;
      if (counted) {
        countsOwed = false;
        renderCounts(counted.data);
        lastCounts = {key: countKey, at: Date.now(), values: counted.data};
      }
      if (list !== shownList) {
        shownList = list;
        if (rows.update(list.workflows)) selectionChanged();
      }
      tickDurations();
      renderPager(token, list.next_page_token, list.workflows.length);
      if (message.querySelector(".notice.error.load")) fill(message);
      checked();
    } catch (e) {
      if (e.name === "AbortError") return;
      fill(message, notice("error load", errorText(e)));
    }
  }

  /** The chips of {count, by_status}; drawn again only when they would differ. */
  function renderCounts({count: total, by_status: perStatus}) {
    const q0 = new URLSearchParams(query);
    q0.delete("page");
    const drawn = JSON.stringify([q0.toString(), total, perStatus]);
    if (drawn === countsDrawn) return;
    countsDrawn = drawn;
    const chip = (label, status, n) => {
      const q = new URLSearchParams(query);
      q.delete("page");
      if (status) q.set("status", status); else q.delete("status");
      const current = (query.get("status") || "") === status;
      return h("li", {}, h("a", {href: `${base}?${q}`, class: current ? "chip on" : "chip",
        "aria-current": current ? "true" : null, dataset: {status: status || "ALL"}},
      label, " ", h("b", {}, String(n))));
    };
    fill(counts, chip("All", "", total),
      STATUSES.map((s) => (perStatus[s] || s === "RUNNING" ? chip(s, s, perStatus[s] || 0) : null)));
  }

  function renderPager(token, next, shown) {
    const drawn = JSON.stringify([query.toString(), token, next, shown, previousOf.get(token)]);
    if (drawn === pagerDrawn) return;
    pagerDrawn = drawn;
    const at = (t) => {
      const q = new URLSearchParams(query);
      if (t) q.set("page", t); else q.delete("page");
      return `${base}${q.toString() ? "?" + q : ""}`;
    };
    const prev = previousOf.get(token);
    const nextLink = next ? h("a", {href: at(next), rel: "next", class: "button"}, "Next page") : null;
    if (nextLink) nextLink.addEventListener("click", () => previousOf.set(next, token));
    fill(pager,
      token ? h("a", {href: at(""), class: "button"}, "First page") : null,
      token && prev !== undefined && prev !== "" ? h("a", {href: at(prev), rel: "prev", class: "button"}, "Previous page") : null,
      h("span", {class: "muted"}, `${shown} on this page`),
      nextLink);
  }

  fill(view,
    h("div", {class: "title"}, h("h1", {}, "Workflows"), h("span", {class: "muted"}, `namespace ${ns}`)),
    h("form", {class: "filters", role: "search", "aria-label": "Filter runs", onsubmit: (e) => e.preventDefault()},
      h("label", {}, "Type", f.type), h("label", {}, "Status", f.status),
      h("label", {}, "Search attribute", f.sa),
      h("label", {}, "Started after (UTC)", f.after), h("label", {}, "Started before (UTC)", f.before),
      h("a", {href: base, class: "button"}, "Clear")),
    h("div", {class: "bar"}, counts, h("span", {class: "grow"}), updated, liveBtn),
    message, bar.el, h("div", {class: "scroll"}, table), pager);
  load();
  const stop = poller(() => (live ? load({live: true}) : null), LIVE_MS);
  return () => { stop(); bar.dispose(); if (controller) controller.abort(); };
}
