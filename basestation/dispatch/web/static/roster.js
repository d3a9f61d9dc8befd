// The operator's "People" panel (partials/roster.html): add a volunteer or an operator, show their sign-in link
// and QR code once, make a new link, revoke. The API calls, the strings and the error toasts are app.js's
// (window.Nightwatch). Plain script.
"use strict";
(function () {
  const nw = () => window.Nightwatch;
  const when = (ms) => new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "short" }).format(new Date(ms));

  function person(acc) {
    // Text only, never markup: names are shown as they were typed.
    const { t } = nw();
    const li = document.createElement("li");
    li.dataset.account = acc.id;
    const who = document.createElement("span");
    const role = acc.role === "operator" ? t("roster.role.operator") : t("roster.role.responder");
    const parts = [acc.name, role, acc.phone || "", when(acc.created_ms)];
    if (acc.streams) parts.push(t("roster.streams", { n: acc.streams }));
    who.textContent = parts.filter(Boolean).join(" \u00b7 ");
    const link = nw().rowButton(t("roster.new_link"), acc.name, { rosterRelink: acc.id });
    const revoke = nw().rowButton(t("roster.revoke"), acc.name, { rosterRevoke: acc.id }, true);
    li.dataset.name = acc.name;
    li.append(who, " ", link, " ", revoke);
    return li;
  }

  async function list() {
    const el = document.querySelector("[data-roster-list]");
    if (!el) return;
    const found = await nw().api("GET", "/api/v1/accounts");
    if (!found.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = nw().t("roster.nobody");
      el.replaceChildren(li);
      return;
    }
    el.replaceChildren(...found.map(person));
  }

  function showLink(issued) {
    const { t } = nw();
    const dialog = document.getElementById("roster-link");
    const name = issued.account.name;
    dialog.querySelector("[data-roster-link-title]").textContent = t("roster.link_title", { name });
    dialog.querySelector("[data-roster-link-help]").textContent = t("roster.link_help", { name });
    // The service made this SVG (accounts.qr_svg) from the link alone: no text of anyone's in it.
    dialog.querySelector("[data-roster-qr]").innerHTML = issued.qr_svg;
    dialog.querySelector("[data-roster-link-url]").value = issued.link;
    dialog.showModal();
  }

  function forget() {
    // The link signs someone in: it leaves the page when the dialog closes.
    const dialog = document.getElementById("roster-link");
    dialog.querySelector("[data-roster-qr]").replaceChildren();
    dialog.querySelector("[data-roster-link-url]").value = "";
  }

  document.addEventListener("change", (e) => {
    if (e.target.id !== "roster-role") return;
    document.querySelector("[data-roster-responder]").hidden = e.target.value !== "responder";
  });

  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("[data-roster-add]");
    if (!form) return;
    e.preventDefault();
    const error = form.querySelector("[data-roster-error]");
    error.hidden = true;
    const body = { role: form.role.value, name: form.name.value.trim() };
    if (form.phone.value.trim()) body.phone = form.phone.value.trim();
    if (body.role === "responder") {
      body.language = form.language.value;
      body.skills = [...form.querySelectorAll("input[name=skills]:checked")].map((c) => c.value);
      if (form.shift.value.trim()) body.shift = form.shift.value.trim();
      if (form.team.value.trim()) body.team = form.team.value.trim();
    }
    try {
      const issued = await nw().api("POST", "/api/v1/accounts", body);
      form.reset();
      document.querySelector("[data-roster-responder]").hidden = false;
      nw().toast(nw().t("roster.added", { name: issued.account.name }));
      showLink(issued);
      list().catch(nw().fail);
    } catch (err) {
      const { message, detail } = nw().explain(err);
      error.textContent = detail ? message + " " + detail : message;
      error.hidden = false;
    }
  });

  document.addEventListener("click", async (e) => {
    const { t } = nw();
    const relink = e.target.closest("[data-roster-relink]");
    const revoke = e.target.closest("[data-roster-revoke]");
    if (e.target.closest("[data-roster-done]")) {
      document.getElementById("roster-link").close();
      forget();
      return;
    }
    if (e.target.closest("[data-roster-copy]")) {
      const url = document.querySelector("[data-roster-link-url]");
      try {
        await navigator.clipboard.writeText(url.value);
        nw().toast(t("roster.copied"));
      } catch (_) {
        url.select(); // no clipboard without a secure origin: selected, for the operator to copy by hand
      }
      return;
    }
    if (!relink && !revoke) return;
    const li = e.target.closest("[data-account]");
    const name = li.dataset.name;
    try {
      if (relink) {
        if (!confirm(t("roster.new_link_confirm", { name }))) return;
        showLink(await nw().api("POST", `/api/v1/accounts/${relink.dataset.rosterRelink}/link`));
      } else {
        if (!confirm(t("roster.revoke_confirm", { name }))) return;
        await nw().api("DELETE", `/api/v1/accounts/${revoke.dataset.rosterRevoke}`);
        nw().toast(t("roster.revoked", { name }));
      }
      await list();
    } catch (err) {
      nw().fail(err);
    }
  });

  // The panel is in the live part, made after sign-in: its toggle (which does not bubble) is caught on the way
  // down. The list is read when the panel is opened, and every 30 s while it is: the open connections change.
  document.addEventListener("toggle", (e) => {
    if (e.target.id === "roster" && e.target.open) list().catch(nw().fail);
  }, true);
  setInterval(() => {
    const panel = document.getElementById("roster");
    if (panel && panel.open) list().catch(() => {});
  }, 30000);
  document.addEventListener("DOMContentLoaded", () => {
    const dialog = document.getElementById("roster-link");
    if (dialog) dialog.addEventListener("close", forget);
  });
})();
