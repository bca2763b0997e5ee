// One run: what it was given and returned, why it failed, what it is doing now (pending
// activities, attempts, where it waits), its history (with its state after any event), and
// the actions an operator takes on it. Refreshes itself while the run is open; only the
// sections whose data changed are redrawn, and the history is fetched incrementally
// (?after=). Payloads a codec encoded are decoded through the user's codec server, if one is
// set (codec.js), once per load, before drawing.

import {codecGeneration, decodeFor} from "./codec.js";
import {
  api, CLOSED, confirmDialog, dur, enc, errorText, fill, h, jsonBlock, notice, now, nsPath,
  parseArgs, payloads, poller, describeQueue, requestId, statusBadge, timeEl, toSeconds, unwrap,
  unwrapDeep,
} from "./core.js";
import {activityTypes, eventSummary, KINDS, kindOf} from "./events.js";
import {statePanel} from "./state_at.js";
import {timeline} from "./timeline.js";
import {waitingPanel} from "./waiting.js";

const REFRESH_MS = 2000;
const QUEUE_CHECK_MS = 10000;
const HISTORY_PAGE = 500;  // events drawn at once: a long history is shown a page at a time
const FETCH_PAGE = 2000;  // events per history request
const ATTEMPTS_PAGE = 200;

export function render({ns, params: [wid, ridParam], view, navigate}) {
  const wfBase = `${nsPath(ns)}/workflows`;
  const apiBase = `${nsPath(ns)}/workflows/${enc(wid)}`;
  let rid = ridParam || null;
  let desc = null;
  let events = [];
  let loading = true;         // more history pages are on their way
  let historyDrawnAt = 0;     // performance.now() of the history's last drawing
  let historyPage = 0;        // which HISTORY_PAGE of the (filtered) history is drawn
  let shownAttempts = ATTEMPTS_PAGE;
  let historyKind = "";
  const drawn = {};           // section -> JSON of what it shows, to redraw only on change
  const open = new Set();     // keys of <details> the user opened, kept across redraws
  const shut = new Set();     // keys of <details> open by default that the user closed
  const states = new Map();   // event id -> its open "state here" panel, kept across redraws
  const waiting = waitingPanel(async () => {
    if (queueWarning) throw new Error(`no worker polls task queue ${queueWarning}, so none can answer`);
    const r = await post("query", {query_name: "__stack_trace"});
    await decodeFor(r.result);
    return unwrap(r.result);
  });

  const s = {
    title: h("div", {class: "title"}),
    alerts: h("div", {class: "messages"}),
    actions: h("div", {class: "actions"}),
    out: h("div", {class: "messages", "aria-live": "polite"}),
    summary: h("section", {"aria-labelledby": "h-summary"}),
    io: h("div", {class: "io"}),
    failure: h("section"),
    waiting: waiting.el,
    pending: h("section"),
    timeline: h("section"),
    attempts: h("section"),
    history: h("section", {"aria-labelledby": "h-history"}),
  };
  fill(view, Object.values(s));
  fill(s.title, h("h1", {}, wid));

  /** A <details> whose open state survives redraws (key: stable id of what it shows). */
  function kept(key, summary, body, openByDefault = false) {
    const d = h("details", {open: open.has(key) || (openByDefault && !shut.has(key))},
      h("summary", {}, summary));
    let built = false;
    const build = () => {
      if (!built && d.open) { built = true; d.append(...[].concat(body())); }
    };
    d.addEventListener("toggle", () => {
      if (d.open) { open.add(key); shut.delete(key); } else { open.delete(key); shut.add(key); }
      build();
    });
    build();
    return d;
  }

  function changed(section, data) {
    const key = JSON.stringify([data, codecGeneration()]);
    if (drawn[section] === key) return false;
    drawn[section] = key;
    return true;
  }

  // -- loading --------------------------------------------------------------------------------
  async function load() {
    const last = events.length ? events[events.length - 1].event_id : 0;
    const history = (run) => api(`${apiBase}/history?run_id=${enc(run)}&after=${last}&page_size=${FETCH_PAGE}`);
    let d, hist;
    if (rid) {  // the run is known: ask for both at once
      [d, hist] = await Promise.all([api(`${apiBase}?run_id=${enc(rid)}`), history(rid)]);
    } else {    // the latest run: learn its id first, so both answers are about the same run
      d = await api(apiBase);
      hist = await history(d.run_id);
    }
    rid = d.run_id;
    // The describe may be older than the events fetched with it; the next refresh catches up.
    const seen = events.length ? events[events.length - 1].event_id : 0;  // a load may overlap
    const fresh = hist.events.filter((e) => e.event_id > seen);
    await decodeFor(d, fresh);  // one request to the codec server, if one is set
    events = events.concat(fresh);
    desc = d;
    // A long history arrives a page at a time: the page shows the first one at once and
    // fetches the rest right after, instead of waiting for the whole of it. The timeline
    // (which reads every event) is drawn once the last page is in.
    loading = hist.events.length === FETCH_PAGE;
    draw();
    if (loading) setTimeout(() => load().catch(() => {}), 0);
  }

  async function firstLoad() {
    try {
      await load();
    } catch (e) {
      fill(s.alerts, notice("error", errorText(e)));
      return;
    }
    checkQueue();
  }

  async function refresh() {
    if (desc && CLOSED.has(desc.status) && events.length >= desc.history_length) return;
    try { await load(); } catch (e) { fill(s.alerts, notice("error", errorText(e))); }
  }

  let queueWarning = null;
  let queueChecked = false;  // "where is it waiting" asks once it is known a worker can answer
  async function checkQueue() {
    if (!desc || CLOSED.has(desc.status)) { queueWarning = null; drawAlerts(); return; }
    try {
      const q = await describeQueue(ns, desc.task_queue);
      queueWarning = q.pollers.length ? null : desc.task_queue;
    } catch { queueWarning = null; }
    queueChecked = true;
    drawAlerts();
    waiting.show(!CLOSED.has(desc.status));
  }

  // -- drawing --------------------------------------------------------------------------------
  function draw() {
    const d = desc;
    const started = events.find((e) => e.event_type === "WORKFLOW_EXECUTION_STARTED");
    const closing = [...events].reverse().find((e) => e.event_type.startsWith("WORKFLOW_EXECUTION_")
      && CLOSED.has(closedStatus(e.event_type)));
    if (changed("title", [d.status, d.run_id])) {
      fill(s.title, h("h1", {}, wid), statusBadge(d.status),
        h("span", {class: "muted"}, d.workflow_type));
      document.title = `${wid} · plait`;
    }
    drawAlerts();
    if (queueChecked || CLOSED.has(d.status)) waiting.show(!CLOSED.has(d.status));
    if (changed("actions", [d.status, d.run_id, Boolean(d.paused)])) drawActions(d);
    if (changed("summary", [d, started && started.attributes, closing && closing.attributes,
      children().length])) drawSummary(d, started, closing);
    if (changed("io", [d.result, started && started.attributes.input])) drawIo(d, started);
    if (changed("failure", [d.result && d.result.failure, d.last_task_failure])) drawFailure(d);
    if (changed("pending", [d.pending_activities, d.status])) drawPending(d);
    if (!loading && (changed("timeline", [d.attempts, d.close_time, events.length]) || !d.close_time)) {
      drawTimeline(d);
    }
    if (changed("attempts", [d.attempts, shownAttempts])) drawAttempts(d);
    // While a long history arrives, its list is redrawn at most once a second (the page on
    // screen is already whole); the last page's arrival always redraws it.
    const throttled = loading && performance.now() - historyDrawnAt < 1000;
    if (!throttled && changed("history", [events.length, historyPage, historyKind, loading])) {
      historyDrawnAt = performance.now();
      drawHistory();
    }
  }

  function drawAlerts() {
    if (!desc) return;
    const d = desc;
    fill(s.alerts,
      queueWarning ? notice("warn", "No worker is polling task queue ",
        h("a", {href: `${nsPath(ns)}/task-queues/${enc(queueWarning)}`}, queueWarning),
        ": this run cannot make progress until one starts.") : null,
      d.last_task_failure && !CLOSED.has(d.status) ? notice("error",
        `The workflow task keeps failing (attempt ${d.last_task_failure.attempts}): `,
        d.last_task_failure.message, ". Deploying fixed workflow code lets it go on.") : null);
  }

  function children() {
    const started = new Map();
    for (const e of events) {
      const a = e.attributes;
      if (e.event_type === "START_CHILD_WORKFLOW_EXECUTION_INITIATED") {
        started.set(a.workflow_id, {workflow_id: a.workflow_id, workflow_type: a.workflow_type});
      } else if (e.event_type === "CHILD_WORKFLOW_EXECUTION_STARTED") {
        started.set(a.workflow_id, {...started.get(a.workflow_id), workflow_id: a.workflow_id,
          run_id: a.run_id});
      }
    }
    return [...started.values()];
  }

  const runLink = (id, run, label, targetNs = ns) =>
    h("a", {href: `${nsPath(targetNs)}/workflows/${enc(id)}${run ? "/" + enc(run) : ""}`}, label || id);

  function drawSummary(d, started, closing) {
    const a = (started && started.attributes) || {};
    const end = d.close_time ?? now();
    const rows = [
      ["Status", statusBadge(d.status)],
      ["Workflow type", h("a", {href: `${wfBase}?type=${enc(d.workflow_type)}`}, d.workflow_type)],
      ["Task queue", h("a", {href: `${nsPath(ns)}/task-queues/${enc(d.task_queue)}`}, d.task_queue)],
      ["Workflow ID", h("code", {}, d.workflow_id)],
      ["Run ID", h("code", {}, d.run_id)],
      ["Started", timeEl(d.start_time)],
      ["Closed", d.close_time ? timeEl(d.close_time) : "still running"],
      ["Duration", dur(end - d.start_time) + (d.close_time ? "" : " so far")],
      ["History", `${d.history_length} events` +
        (d.history_size_bytes ? `, ${d.history_size_bytes.toLocaleString("en")} bytes` : "")],
      d.paused ? ["Paused", h("span", {class: "paused"}, "since ", timeEl(d.paused.time),
        d.paused.reason ? `: ${d.paused.reason}` : "")] : null,
      a.attempt > 1 ? ["Attempt", String(a.attempt)] : null,
      a.parent ? ["Parent", runLink(a.parent.workflow_id, a.parent.run_id, null, a.parent.namespace || ns)] : null,
      a.continued_from_run_id ? ["Previous run", runLink(d.workflow_id, a.continued_from_run_id,
        a.continued_from_run_id)] : null,
      closing && closing.attributes.new_execution_run_id ? ["Next run", runLink(d.workflow_id,
        closing.attributes.new_execution_run_id, closing.attributes.new_execution_run_id)] : null,
      d.reset_from_run_id ? ["Reset from", h("span", {class: "reset-from"},
        runLink(d.workflow_id, d.reset_from_run_id, d.reset_from_run_id),
        ` at event ${d.reset_event_id}`, d.reset_reason ? `: ${d.reset_reason}` : "")] : null,
      d.reset_to_run_id ? ["Reset to", runLink(d.workflow_id, d.reset_to_run_id,
        d.reset_to_run_id)] : null,
      children().length ? ["Children", h("ul", {class: "short"}, children().map((c) =>
        h("li", {}, runLink(c.workflow_id, c.run_id), c.workflow_type ? ` (${c.workflow_type})` : "")))] : null,
      ["Search attributes", Object.keys(d.search_attributes || {}).length
        ? kv(d.search_attributes) : h("span", {class: "muted"}, "none")],
      ["Memo", d.memo && Object.keys(d.memo).length ? jsonBlock(unwrapDeep(d.memo)) : h("span", {class: "muted"}, "none")],
    ].filter(Boolean);
    fill(s.summary, h("h2", {id: "h-summary"}, "Summary"),
      h("dl", {class: "summary"}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  }

  function kv(obj) {
    return h("ul", {class: "kv"}, Object.entries(obj).map(([k, v]) => {
      const q = new URLSearchParams({search_attribute: `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`});
      return h("li", {}, h("a", {href: `${wfBase}?${q}`, title: "Runs with this value"},
        h("code", {}, k), " = ", h("code", {}, typeof v === "string" ? v : JSON.stringify(v))));
    }));
  }

  function drawIo(d, started) {
    const input = started ? (started.attributes.input || []).map(unwrap) : null;
    const r = d.result;
    let out;
    if (!r) out = h("p", {class: "muted"}, "The run has not closed yet.");
    else if ("result" in r) out = jsonBlock(unwrap(r.result), "json result");
    else if (r.failure) out = h("p", {}, "Failed: see the failure below.");
    else if ("reason" in r) out = h("p", {class: "reason"}, h("span", {class: "muted"}, "Reason: "), r.reason);
    else {
      const {status: _, ...rest} = r;
      out = jsonBlock(unwrapDeep(rest), "json result");
    }
    fill(s.io,
      h("section", {"aria-labelledby": "h-input"}, h("h2", {id: "h-input"}, "Input"),
        input === null ? h("p", {class: "muted"}, "…")
          : input.length === 0 ? h("p", {class: "muted"}, "no arguments")
            : jsonBlock(input.length === 1 ? input[0] : input, "json input")),
      h("section", {"aria-labelledby": "h-result"}, h("h2", {id: "h-result"},
        r && r.status ? `Result (${r.status})` : "Result"), out));
  }

  function drawFailure(d) {
    const f = d.result && d.result.failure;
    const t = d.last_task_failure;
    fill(s.failure,
      f ? [h("h2", {}, "Failure"), failureChain(f, "wf-failure", true)] : null,
      t ? [h("h2", {}, `Last workflow task failure (attempt ${t.attempts})`),
        h("p", {class: "failure-msg"}, t.message),
        t.traceback ? traceBlock(t.traceback) : null] : null);
  }

  function drawPending(d) {
    const list = d.pending_activities || [];
    if (!list.length && CLOSED.has(d.status)) { fill(s.pending); return; }  // nothing can be
    fill(s.pending, h("h2", {}, `Pending activities (${list.length})`),
      list.length === 0 ? h("p", {class: "muted"}, "None.") : h("div", {class: "scroll"},
        h("table", {class: "list"}, h("thead", {}, h("tr", {}, ["Activity", "Attempt", "State",
          "Last failure", "Next attempt", "Heartbeat", "Scheduled"].map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, list.map((p) => h("tr", {},
          h("td", {}, p.activity_type, h("span", {class: "muted"}, ` #${p.activity_id}`)),
          h("td", {}, String(p.attempt)),
          h("td", {}, h("span", {class: `state st-${p.state}`}, p.state.replaceAll("_", " "))),
          h("td", {}, p.last_failure ? failureCell(p.last_failure, `pa-${p.activity_id}`) : ""),
          h("td", {}, p.next_attempt_time ? [timeEl(p.next_attempt_time, true),
            h("span", {class: "muted"}, ` (in ${dur(p.next_attempt_time - now())})`)] : ""),
          h("td", {}, p.heartbeat_details && p.heartbeat_details.length
            ? jsonBlock(p.heartbeat_details.map(unwrap), "json small") : ""),
          h("td", {}, timeEl(p.scheduled_time, true))))))));
  }

  function drawTimeline(d) {
    const t = timeline(d, events);
    fill(s.timeline, t ? [h("h2", {}, "Timeline"), t] : null);
  }

  function drawAttempts(d) {
    const all = d.attempts || [];
    const list = all.slice(0, shownAttempts);
    const more = all.length > list.length ? h("button", {type: "button", onclick: () => {
      shownAttempts += ATTEMPTS_PAGE; draw();
    }}, `Show ${Math.min(ATTEMPTS_PAGE, all.length - list.length)} more of ${all.length - list.length}`) : null;
    const failed = all.filter((a) => a.outcome && a.outcome !== "completed").length;
    fill(s.attempts, h("h2", {}, `Attempt log (${all.length}${failed ? `, ${failed} failed` : ""})`),
      list.length === 0 ? h("p", {class: "muted"}, "No activity attempts.") : h("div", {class: "scroll"},
        h("table", {class: "list attempts"}, h("thead", {}, h("tr", {}, ["Activity", "Attempt", "Started (UTC)",
          "Took", "Outcome", "Failure", "Worker"].map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, list.map((a) => h("tr", {dataset: {outcome: a.outcome || "running"}},
          h("td", {}, a.activity_type, h("span", {class: "muted"}, ` #${a.activity_id}`)),
          h("td", {}, String(a.attempt)),
          h("td", {}, timeEl(a.started_at, true)),
          h("td", {class: "num"}, dur((a.ended_at ?? now()) - a.started_at)),
          h("td", {}, h("span", {class: `state out-${a.outcome || "running"}`}, a.outcome || "running")),
          h("td", {}, a.failure ? failureCell(a.failure, `at-${a.activity_id}-${a.attempt}`) : ""),
          h("td", {class: "muted worker"}, a.worker || "")))))), more);
  }

  function failureCell(f, key) {
    return kept(key, [h("span", {class: "ftype"}, f.type || f.kind || "error"), ": ", f.message || ""],
      () => failureChain(f, key));
  }

  /** A failure and its causes, outermost first, each with its stack trace as lines. */
  function failureChain(f, key, openTraces = false) {
    const out = [];
    let depth = 0;
    for (let c = f; c && depth < 20; c = c.cause, depth++) {
      const meta = [c.kind && `kind ${c.kind}`, c.activity_type && `activity ${c.activity_type}`,
        c.retry_state && `retry stopped: ${c.retry_state}`, c.timeout_type && `timeout ${c.timeout_type}`,
        c.non_retryable && "non-retryable"].filter(Boolean).join(" · ");
      out.push(h("div", {class: "failure", dataset: {depth}},
        h("p", {class: "failure-msg"}, depth ? h("span", {class: "muted"}, "caused by ") : null,
          h("strong", {}, c.type || "Error"), ": ", c.message || ""),
        meta ? h("p", {class: "muted"}, meta) : null,
        c.details && c.details.length ? jsonBlock(c.details.map(unwrap), "json small") : null,
        c.stack_trace ? kept(`${key}-trace-${depth}`, "Stack trace", () => traceBlock(c.stack_trace),
          openTraces) : null,
        c.last_failure ? [h("p", {class: "muted"}, "last failure of an earlier attempt:"),
          failureChain(c.last_failure, `${key}-last-${depth}`)] : null));
    }
    return h("div", {class: "chain"}, out);
  }

  function traceBlock(text) {
    return h("pre", {class: "trace", tabindex: 0}, String(text).replace(/\n$/, ""));
  }

  // -- history --------------------------------------------------------------------------------
  function drawHistory() {
    const kindSel = h("select", {id: "h-kind"}, h("option", {value: ""}, "every kind"),
      Object.entries(KINDS).map(([k, label]) => h("option", {value: k}, label)));
    kindSel.value = historyKind;
    kindSel.addEventListener("change", () => {
      historyKind = kindSel.value; historyPage = 0; historyDrawnAt = 0; draw();
    });
    const list = historyKind ? events.filter((e) => kindOf(e.event_type) === historyKind) : events;
    const pages = Math.max(1, Math.ceil(list.length / HISTORY_PAGE));
    historyPage = Math.min(historyPage, pages - 1);
    const from = historyPage * HISTORY_PAGE;
    const shown = list.slice(from, from + HISTORY_PAGE);
    const t0 = events.length ? toSeconds(events[0].timestamp) : 0;
    const types = activityTypes(events);
    fill(s.history,
      h("div", {class: "bar"}, h("h2", {id: "h-history"}, loading
        ? `History (${events.length} of ${desc.history_length} events, loading)` : `History (${events.length} events)`),
        h("span", {class: "grow"}),
        h("label", {}, "Show ", kindSel),
        h("button", {type: "button", onclick: download}, "Download JSON")),
      pages > 1 ? historyPager(list, pages, from, shown.length) : null,
      h("ol", {class: "events"}, shown.map((e) => h("li", {dataset: {kind: kindOf(e.event_type)}},
        kept(`ev-${e.event_id}`, [
          h("span", {class: "eid"}, String(e.event_id)),
          h("span", {class: "etype"}, e.event_type),
          h("span", {class: "esum"}, eventSummary(e, types)),
          h("span", {class: "etime", title: e.timestamp}, `+${dur(toSeconds(e.timestamp) - t0)}`)],
        () => jsonBlock(unwrapDeep(e.attributes))),
        stateButton(e), states.get(e.event_id)))));
  }

  /** First, previous, next and last page of a long history, and "go to event N". Drawing
   * only a page keeps a history of any length as quick to show as a short one. */
  function historyPager(list, pages, from, count) {
    const go = (page) => { historyPage = page; historyDrawnAt = 0; draw(); s.history.scrollIntoView(); };
    const btn = (label, page) => h("button", {type: "button", disabled: page === historyPage,
      onclick: () => go(page)}, label);
    const target = h("input", {type: "number", min: 1, id: "h-goto",
      "aria-label": "Event id", placeholder: "event id"});
    const form = h("form", {class: "inline", "aria-label": "Go to event"}, target,
      h("button", {type: "submit"}, "Go"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = Number(target.value);
      const i = list.findIndex((e) => e.event_id >= id);  // events are in id order
      if (i >= 0) go(Math.floor(i / HISTORY_PAGE));
    });
    return h("nav", {class: "pager", id: "h-pager", "aria-label": "History pages"},
      btn("First", 0), btn("Previous", Math.max(0, historyPage - 1)),
      h("span", {class: "muted"}, `events ${list[from].event_id}–${list[from + count - 1].event_id}`
        + ` (page ${historyPage + 1} of ${pages})`),
      btn("Next", Math.min(pages - 1, historyPage + 1)), btn("Last", pages - 1), form);
  }

  /** "State here": the run's state right after this event (state_at.js), in a panel under it. */
  function stateButton(e) {
    const b = h("button", {type: "button", class: "state-here", title: `The workflow's state right after event ${e.event_id}`,
      "aria-label": `State after event ${e.event_id}`, "aria-expanded": String(states.has(e.event_id))}, "state");
    b.addEventListener("click", () => {
      if (states.has(e.event_id)) { states.get(e.event_id).querySelector("input").focus(); return; }
      const panel = statePanel({eventId: e.event_id, workflowType: desc.workflow_type, events: () => events,
        ask: async (name, input, asOf) => {
          const r = await post("query", {query_name: name, input, as_of_event: asOf});
          await decodeFor(r.result);
          return unwrap(r.result);
        },
        close: () => {  // the button drawn now (the history may have been redrawn since)
          const current = panel.parentElement && panel.parentElement.querySelector("button.state-here");
          states.delete(e.event_id);
          panel.remove();
          if (current) { current.setAttribute("aria-expanded", "false"); current.focus(); }
        }});
      states.set(e.event_id, panel);
      b.setAttribute("aria-expanded", "true");
      b.closest("li").append(panel);
    });
    return b;
  }

  function download() {
    const body = JSON.stringify({format: 1, workflow_id: wid, run_id: rid, events}, null, 1);
    const url = URL.createObjectURL(new Blob([body], {type: "application/json"}));
    const a = h("a", {href: url, download: `${wid.replace(/[^\w.-]+/g, "_")}-${rid}.json`});
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // -- actions --------------------------------------------------------------------------------
  function say(kind, ...text) { fill(s.out, notice(kind, ...text)); }

  async function post(action, body) {
    return api(`${apiBase}/${action}`, {method: "POST", body: {...body, run_id: rid}});
  }

  function drawActions(d) {
    const running = !CLOSED.has(d.status);

    /** A form that sends a named message with JSON arguments: signal, query or update. */
    function messageForm(kind, label, send) {
      const name = h("input", {id: `${kind}-name`, required: true, autocomplete: "off",
        spellcheck: "false", "aria-label": `${label} name`, placeholder: `${kind} name`});
      const args = h("textarea", {id: `${kind}-args`, rows: 1, spellcheck: "false",
        placeholder: 'arguments: JSON, e.g. ["dana"]',
        "aria-label": `${label} arguments, a JSON array (one item per argument)`});
      const form = h("form", {class: "inline", "aria-label": label}, name, args,
        h("button", {type: "submit", disabled: kind !== "query" && !running}, label));
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        let input;
        try { input = payloads(parseArgs(args.value)); } catch (err) {
          say("error", `The arguments are not JSON: ${err.message}`);
          return;
        }
        try { await send(name.value, input); } catch (err) { say("error", errorText(err)); }
      });
      return form;
    }
    const shown = (title, ...body) => fill(s.out, h("div", {class: "query-result"}, h("h3", {}, title), ...body));

    const sigForm = messageForm("signal", "Signal", async (name, input) => {
      await post("signal", {signal_name: name, input, request_id: requestId(), identity: "plait console"});
      say("ok", `Signal ${name} sent.`);
      await refresh();
    });
    const qForm = messageForm("query", "Query", async (name, input) => {
      say("info", `Asking a worker: ${name}…`);
      const r = await post("query", {query_name: name, input});
      await decodeFor(r.result);
      shown(`Query ${name}`, jsonBlock(unwrap(r.result), "json result"));
    });
    const upForm = messageForm("update", "Update", async (name, input) => {
      say("info", `Sending update ${name}…`);
      const r = await post("update", {update_id: requestId(), update_name: name, input, wait: 30});
      await decodeFor(r);
      shown(`Update ${name}: ${r.status}`, r.failure ? failureChain(r.failure, `up-${r.update_id}`, true)
        : "result" in r ? jsonBlock(unwrap(r.result), "json result")
          : h("p", {class: "muted"}, "No outcome yet; it is recorded in the history when it comes."));
      await refresh();
    });
    const closeBtn = (action, label, danger) => {
      const b = h("button", {type: "button", class: danger ? "danger" : null, disabled: !running}, `${label}…`);
      b.addEventListener("click", async () => {
        const reason = await confirmDialog({title: `${label} ${wid}?`, action: label, danger,
          body: h("p", {}, action === "terminate"
            ? "The run closes at once as TERMINATED; no workflow code runs."
            : "The workflow gets a cancellation at its current await and may clean up.")});
        if (reason === null) return;
        try {
          await post(action, {reason: reason || undefined, request_id: requestId()});
          say("ok", action === "terminate" ? "Terminated." : "Cancellation requested.");
          await refresh();
        } catch (err) { say("error", errorText(err)); }
      });
      return b;
    };
    // Pause holds back the run's workflow tasks and new activity attempts until unpaused.
    const pauseBtn = h("button", {type: "button", disabled: !running},
      d.paused ? "Unpause" : "Pause…");
    pauseBtn.addEventListener("click", async () => {
      let body = {request_id: requestId()};
      if (!d.paused) {
        const reason = await confirmDialog({title: `Pause ${wid}?`, action: "Pause", danger: false,
          body: h("p", {}, "No workflow task and no new activity attempt of the run is handed "
            + "out until it is unpaused; running attempts finish, timers fire, signals are kept.")});
        if (reason === null) return;
        body = {...body, reason: reason || undefined};
      }
      try {
        await post(d.paused ? "unpause" : "pause", body);
        say("ok", d.paused ? "Unpaused." : "Paused.");
        await refresh();
      } catch (err) { say("error", errorText(err)); }
    });
    fill(s.actions, sigForm, qForm, upForm,
      h("div", {class: "buttons"}, pauseBtn, resetButton(), closeBtn("cancel", "Cancel", false),
        closeBtn("terminate", "Terminate", true), deleteButton()));
  }

  /** Reset: a new run from the history up to a completed workflow task (running or closed). */
  function resetButton() {
    const b = h("button", {type: "button", class: "danger"}, "Reset…");
    b.addEventListener("click", async () => {
      const points = resetPoints(events);
      if (!points.length) { say("error", "The run has no workflow task to reset to yet."); return; }
      const pick = h("select", {id: "reset-event"}, points.map((p) =>
        h("option", {value: String(p.event_id)}, p.label)));
      pick.value = String(defaultResetPoint(points));
      const signals = h("input", {type: "checkbox", id: "reset-signals", checked: true});
      const reason = await confirmDialog({title: `Reset ${wid}?`, action: "Reset", body: [
        h("p", {}, "A new run replays the history up to the chosen event on the workers' "
          + "current code; the workflow task completed there runs again, nothing before it "
          + "does. A running run is terminated."),
        h("label", {for: "reset-event"}, "Reset to event"), pick,
        h("label", {class: "check"}, signals, " Deliver the signals received after it again")]});
      if (reason === null) return;
      try {
        const r = await post("reset", {event_id: Number(pick.value), reason: reason || undefined,
          reapply_signals: signals.checked, request_id: requestId()});
        navigate(`${wfBase}/${enc(wid)}/${enc(r.run_id)}`);
      } catch (err) { say("error", errorText(err)); }
    });
    return b;
  }

  /** Delete: the run goes with its history; back to the list. */
  function deleteButton() {
    const b = h("button", {type: "button", class: "danger"}, "Delete…");
    b.addEventListener("click", async () => {
      const ok = await confirmDialog({title: `Delete ${wid}?`, action: "Delete", reasonLabel: null,
        body: h("p", {}, "The run, its history, attempt log and visibility rows are removed "
          + "(a running run is terminated first). This cannot be undone.")});
      if (ok === null) return;
      try {
        await api(`${apiBase}?run_id=${enc(rid)}&request_id=${enc(requestId())}`, {method: "DELETE"});
        navigate(wfBase);
      } catch (err) { say("error", errorText(err)); }
    });
    return b;
  }

  firstLoad();
  const stop = poller(refresh, REFRESH_MS);
  const stopQueue = poller(checkQueue, QUEUE_CHECK_MS);
  return () => { stop(); stopQueue(); };
}

const CLOSING_COMMANDS = new Set(["WORKFLOW_EXECUTION_COMPLETED", "WORKFLOW_EXECUTION_FAILED",
  "WORKFLOW_EXECUTION_CANCELED", "WORKFLOW_EXECUTION_CONTINUED_AS_NEW"]);
// The events a workflow task's commands write (protocol/events.py COMMAND_EVENTS).
const COMMAND_EVENTS = new Set([...CLOSING_COMMANDS, "ACTIVITY_TASK_SCHEDULED", "TIMER_STARTED",
  "TIMER_CANCELED", "ACTIVITY_TASK_CANCEL_REQUESTED", "MARKER_RECORDED", "UPSERT_SEARCH_ATTRIBUTES",
  "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
  "START_CHILD_WORKFLOW_EXECUTION_INITIATED", "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
  "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED"]);

/** Where a run can be reset to: its first workflow task, and each completed one (with what
 * that task decided, so the operator can tell the steps apart). */
function resetPoints(events) {
  const out = [];
  const first = events.find((e) => e.event_type === "WORKFLOW_TASK_SCHEDULED");
  if (first) out.push({event_id: first.event_id, closes: false, first: true,
    label: `${first.event_id} · first workflow task (start over)`});
  events.forEach((e, i) => {
    if (e.event_type !== "WORKFLOW_TASK_COMPLETED") return;
    const did = [];
    for (let j = i + 1; j < events.length && COMMAND_EVENTS.has(events[j].event_type); j++) {
      did.push(events[j].event_type);
    }
    const what = [...new Set(did)].map((t) => t.toLowerCase().replaceAll("_", " ")).join(", ");
    out.push({event_id: e.event_id, closes: did.some((t) => CLOSING_COMMANDS.has(t)),
      label: `${e.event_id} · workflow task completed${what ? ` (then ${what})` : ""}`});
  });
  return out;
}

/** The server's "last_workflow_task": the last completed task that left the run open (a
 * task that closed it would decide the same again). */
function defaultResetPoint(points) {
  const open = points.filter((p) => !p.closes && !p.first);
  return (open.length ? open[open.length - 1] : points[0]).event_id;
}

function closedStatus(eventType) {
  return {
    WORKFLOW_EXECUTION_COMPLETED: "COMPLETED", WORKFLOW_EXECUTION_FAILED: "FAILED",
    WORKFLOW_EXECUTION_CANCELED: "CANCELED", WORKFLOW_EXECUTION_TERMINATED: "TERMINATED",
    WORKFLOW_EXECUTION_TIMED_OUT: "TIMED_OUT", WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
  }[eventType];
}
