// The console's shell: the header (namespace switcher, navigation, the signed-in key, the
// settings), and
// client-side routing with the History API. Each page module exports render(ctx) and returns a
// dispose function that stops its timers when the page is left. On a server started with
// --auth, any 401 from the API replaces the page with the sign-in form (login.js); signing in
// renders the page that was asked for.

import {fill, h, nsPath, onUnauthenticated, signedIn, signOut} from "./core.js";
import * as batchesPage from "./batches.js";
import {showLogin} from "./login.js";
import * as queuePage from "./queue.js";
import * as schedulePages from "./schedules.js";
import {openSettings} from "./settings.js";
import * as workflowPage from "./workflow.js";
import * as workflowList from "./workflows.js";

const ROUTES = [
  [/^\/namespaces\/([^/]+)\/workflows\/?$/, workflowList.render, "workflows"],
  [/^\/namespaces\/([^/]+)\/workflows\/([^/]+)(?:\/([^/]+))?\/?$/, workflowPage.render, "workflows"],
  [/^\/namespaces\/([^/]+)\/schedules\/?$/, schedulePages.renderList, "schedules"],
  [/^\/namespaces\/([^/]+)\/schedules\/([^/]+)\/?$/, schedulePages.renderOne, "schedules"],
  [/^\/namespaces\/([^/]+)\/task-queues\/([^/]+)\/?$/, queuePage.render, "queues"],
  [/^\/namespaces\/([^/]+)\/batches\/?$/, batchesPage.render, "batches"],
];

const main = document.getElementById("main");
const nsInput = document.getElementById("ns");
const nsList = document.getElementById("ns-recent");
let dispose = null;
let currentNs = "default";
let asking = false;  // the sign-in form is up

/** Go to a URL of the console (pushes a history entry unless replace). */
export function navigate(url, {replace = false} = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
  // A new page: start at its top, and let keyboard and screen-reader users start there too.
  window.scrollTo(0, 0);
  main.focus({preventScroll: true});
}

function decode(part) {
  try { return decodeURIComponent(part); } catch { return part; }
}

function route() {
  if (dispose) { dispose(); dispose = null; }
  asking = false;  // a page shown again may ask again
  showKey();
  const path = location.pathname;
  if (path === "/") {  // the console's home: the default namespace's workflows
    history.replaceState(null, "", `${nsPath("default")}/workflows`);
    route();
    return;
  }
  for (const [re, render, section] of ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    const params = m.slice(1).map((p) => (p === undefined ? undefined : decode(p)));
    currentNs = params[0];
    setNamespace(currentNs, section);
    const query = new URLSearchParams(location.search);
    const view = h("div", {class: "page"});
    fill(main, view);
    dispose = render({ns: currentNs, params: params.slice(1), query, view, navigate}) || null;
    return;
  }
  fill(main, h("h1", {}, "Not found"), h("p", {}, "No page at this address. ",
    h("a", {href: `${nsPath("default")}/workflows`}, "Go to the workflows.")));
}

function setNamespace(ns, section) {
  nsInput.value = ns;
  document.querySelectorAll("[data-nav]").forEach((a) => {
    a.href = `${nsPath(ns)}/${a.dataset.nav}`;
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  // No API lists namespaces yet: offer the ones this browser has visited.
  let recent = [];
  try { recent = JSON.parse(localStorage.getItem("plait.namespaces") || "[]"); } catch { recent = []; }
  const list = [ns, ...recent.filter((n) => n !== ns)].slice(0, 10);
  localStorage.setItem("plait.namespaces", JSON.stringify(list));
  fill(nsList, list.map((n) => h("option", {value: n})));
}

// Same-origin links are handled here, so moving between pages keeps the script (and is fast);
// a modified click (new tab, download) is left to the browser.
document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  e.preventDefault();
  if (url.href !== location.href) navigate(url.pathname + url.search + url.hash);
});

window.addEventListener("popstate", route);

// -- signing in (servers started with --auth) -----------------------------------------------
const who = document.getElementById("who");

function showKey() {
  const s = signedIn();
  who.hidden = !s;
  if (s) {
    document.getElementById("who-key").textContent =
      `Key ${s.key_id} (${s.role}, namespace ${s.namespace})`;
  }
}

/** Replace the page with the sign-in form (once, however many calls were refused). */
function askForKey(reason) {
  if (asking) return;
  asking = true;
  if (dispose) { dispose(); dispose = null; }
  showKey();
  showLogin(main, {reason, done: () => { asking = false; route(); main.focus({preventScroll: true}); }});
}

// No key sent: just the form; a key refused (revoked, expired): say why.
onUnauthenticated((e) => askForKey(
  e.message.startsWith("this server requires an API key") ? "" : `Sign in again: ${e.message}`));

document.getElementById("logout").addEventListener("click", (e) => {
  e.preventDefault();
  signOut();
  askForKey("Signed out.");
});

document.getElementById("settings").addEventListener("click", openSettings);

document.getElementById("ns-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const ns = nsInput.value.trim();
  if (ns && ns !== currentNs) navigate(`${nsPath(ns)}/workflows`);
});

route();
