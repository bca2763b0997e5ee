// Signing in to a server started with --auth: a form that asks for an API key, checks it with
// the server (GET /api/v1/csrf, which also gives the key's CSRF token) and keeps it for this
// tab's session. A key the server refuses stays on the form with the server's reason.

import {errorText, fill, h, notice, signIn} from "./core.js";

/** Show the sign-in form in `main`; calls `done(info)` once a key is accepted. `reason` is
 * why the form is shown (an expired or revoked key, a signed-out session). */
export function showLogin(main, {reason = "", done}) {
  const input = h("input", {id: "api-key", name: "api-key", type: "password", required: true,
    autocomplete: "off", spellcheck: "false", size: 60, placeholder: "plait_…",
    "aria-describedby": "login-help"});
  const button = h("button", {type: "submit", class: "primary"}, "Sign in");
  const message = h("div", {id: "login-message"});
  const form = h("form", {class: "login", id: "login-form", "aria-labelledby": "login-title"},
    h("h1", {id: "login-title"}, "Sign in"),
    h("p", {id: "login-help", class: "muted"},
      "This server asks for an API key (plait apikey create). The console keeps it for this ",
      "tab only, until you sign out or close the tab."),
    reason ? notice("info", reason) : null,
    h("label", {for: "api-key"}, "API key"),
    input, button, message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    fill(message, notice("info", "Checking the key…"));
    try {
      const info = await signIn(input.value);
      done(info);
    } catch (err) {
      fill(message, notice("error", `The server refused this key: ${errorText(err)}`));
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  fill(main, form);
  input.focus();
}
