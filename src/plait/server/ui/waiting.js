// "Where is it waiting": a running run's stack (the built-in __stack_trace query, answered by
// a worker from the run's live state) as preformatted text, with a refresh button. Asked when
// the panel first shows and on refresh only: each ask is a query task on the run's queue.

import {Decoded, Undecodable} from "./codec.js";
import {errorText, fill, h, notice, ts, now} from "./core.js";

/** The panel; `ask()` resolves to the query's value (unwrapped). `show(running)` shows it
 * (asking once) while the run is open, hides it once it has closed. */
export function waitingPanel(ask) {
  const body = h("div", {class: "waiting-body", "aria-live": "polite"});
  const asOf = h("span", {class: "muted"});
  const refresh = h("button", {type: "button"}, "Refresh");
  const el = h("section", {class: "waiting", "aria-labelledby": "h-waiting", hidden: true},
    h("div", {class: "bar"}, h("h2", {id: "h-waiting"}, "Where is it waiting"),
      h("span", {class: "grow"}), asOf, refresh), body);
  let asked = false, busy = false;

  async function load() {
    if (busy) return;
    busy = true;
    refresh.disabled = true;
    fill(body, h("p", {class: "muted"}, "Asking a worker for the stack…"));
    try {
      let v = await ask();
      if (v instanceof Undecodable) throw new Error(`the answer was not decoded: ${v.message}`);
      if (v instanceof Decoded) v = v.value;
      const text = typeof v === "string" ? v.replace(/\s+$/, "") : JSON.stringify(v, null, 2);
      fill(body, text ? h("pre", {class: "trace", tabindex: 0}, text)
        : h("p", {class: "muted not-waiting"}, "Not waiting on anything."));
      asOf.textContent = `as of ${ts(now()).slice(11, 19)} UTC`;
    } catch (e) {
      fill(body, notice("error", `No stack: ${errorText(e)}`));
    } finally {
      busy = false;
      refresh.disabled = false;
    }
  }
  refresh.addEventListener("click", load);

  function show(running) {
    el.hidden = !running;
    if (running && !asked) { asked = true; load(); }
  }
  return {el, show};
}
