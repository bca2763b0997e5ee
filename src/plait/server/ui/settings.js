// The settings dialog (the gear in the header): this browser's codec server URL, kept in
// localStorage. Saving reloads the page, so the server's Content-Security-Policy (which names
// the codec server's origin, from a cookie codec.js sets) lets the page reach it.

import {codecUrl, setCodecUrl} from "./codec.js";
import {h} from "./core.js";

/** The URL typed, checked: "" (none), or an http(s) URL; throws with what is wrong. */
export function checkUrl(text) {
  const t = text.trim();
  if (!t) return "";
  let u;
  try { u = new URL(t); } catch { throw new Error("not a URL (e.g. http://127.0.0.1:8081)"); }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("the URL must start with http:// or https://");
  if (u.search || u.hash || u.username || u.password) throw new Error("the URL takes no query, fragment or credentials");
  return u.href.replace(/\/+$/, "");
}

export function openSettings() {
  const input = h("input", {id: "codec-url", type: "url", value: codecUrl(), autocomplete: "off",
    spellcheck: "false", placeholder: "http://127.0.0.1:8081", "aria-describedby": "codec-help"});
  const error = h("p", {class: "notice error", role: "alert", hidden: true});
  const origin = location.origin;
  const dlg = h("dialog", {class: "confirm settings", "aria-labelledby": "settings-title"},
    h("form", {method: "dialog"},
      h("h2", {id: "settings-title"}, "Settings"),
      h("label", {for: "codec-url"}, "Codec server URL"),
      input,
      h("div", {id: "codec-help", class: "muted help"},
        h("p", {}, "Payloads your codec encrypted or compressed are shown decoded: this browser "
          + "sends them to your codec server (POST /decode) and shows what it answers. The plait "
          + "server never sees your keys."),
        h("p", {}, "The console fetches nothing from outside its server, except from this one "
          + "service that you run and name here. Leave it empty to show payloads as stored."),
        h("p", {}, "Start it with ", h("code", {},
          `plait codec-server --codec MODULE:FACTORY --port 8081 --cors-origin ${origin}`), ".")),
      error,
      h("menu", {},
        h("button", {value: "cancel", type: "submit"}, "Back"),
        h("button", {value: "clear", type: "submit"}, "Clear"),
        h("button", {value: "save", type: "submit", class: "primary"}, "Save"))));
  dlg.addEventListener("submit", (e) => {
    const action = e.submitter && e.submitter.value;
    if (action === "cancel") return;
    let url = "";
    if (action === "save") {
      try { url = checkUrl(input.value); } catch (err) {
        e.preventDefault();
        error.hidden = false;
        error.textContent = `The codec server URL is ${err.message}.`;
        input.focus();
        return;
      }
    }
    if (url === codecUrl()) return;
    setCodecUrl(url);
    location.reload();
  });
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  input.focus();
}
