// Every incident however old (partials/incident_log.html): search through GET /api/v1/incidents page by page, and
// export a date range. The board's open Close forms are kept open across the board's refreshes. Plain script.
"use strict";
(function () {
  // The page's words, its toasts and its requests are app.js's, which runs first.
  const { t, toast, authed, fail } = window.Nightwatch;
  let next = null; // the next page's query, while there is one
  // A key built from a name, not written in a t() call: the keys are listed for extraction in i18n_keys.py.
  const stateKey = (state) => "state." + state;

  // The API wants the bearer header, which a plain link cannot send.
  const get = (path) => authed(path);

  const when = () => new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "short", timeStyle: "short" });

  function row(inc) {
    // Text only, never markup: the caller's words are shown as they were typed.
    const li = document.createElement("li");
    li.dataset.incidentRow = inc.id;
    const parts = [
      "#" + inc.id,
      t(stateKey(inc.state)),
      when().format(new Date(inc.opened_ms)),
      inc.caller_name || inc.callback_number || "",
      inc.address || inc.destination || "",
    ];
    li.textContent = parts.filter(Boolean).join(" \u00b7 ");
    return li;
  }

  async function search(query, append) {
    const list = document.querySelector("[data-incident-results]");
    const more = document.querySelector("[data-incident-more]");
    const r = await get("/api/v1/incidents?" + query.toString());
    const found = await r.json();
    if (!append) list.replaceChildren();
    for (const inc of found) list.appendChild(row(inc));
    const cursor = r.headers.get("X-Next-Cursor");
    next = null;
    if (cursor) {
      next = new URLSearchParams(query);
      next.set("cursor", cursor);
    }
    more.hidden = !next;
    const n = list.children.length;
    document.querySelector("[data-incident-count]").textContent = next ? t("incidents.found_more", { n }) : t("incidents.found", { n });
  }

  // Local midnight of the first day up to local midnight after the last: the days as the desk reads them.
  const dayStart = (value) => new Date(value + "T00:00").getTime();

  async function exportRange(form) {
    const from = dayStart(form.from.value);
    const to = dayStart(form.to.value) + 86400000;
    const r = await get(`/api/v1/incidents/export?from_ms=${from}&to_ms=${to}&format=${form.format.value}`);
    const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
    const file = name ? name[1] : "nightwatch-incidents." + form.format.value;
    const url = URL.createObjectURL(await r.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = file;
    document.body.appendChild(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    toast(t("incidents.exported", { file }));
  }

  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!form.matches("[data-incident-search], [data-incident-export]")) return;
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      if (form.dataset.incidentSearch !== undefined) {
        await search(new URLSearchParams({ q: form.q.value.trim(), limit: "25" }), false);
      } else {
        await exportRange(form);
      }
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("click", async (e) => {
    if (!e.target.closest("[data-incident-more]") || !next) return;
    try {
      await search(next, true);
    } catch (err) {
      fail(err);
    }
  });

  // The board is swapped whenever anything changes: a Close form the operator has open stays open, with its choice.
  const open = new Map(); // incident id -> chosen referral
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    if (!e.detail.target || e.detail.target.id !== "board") return;
    open.clear();
    for (const el of e.detail.target.querySelectorAll("[data-close-for][open]")) {
      open.set(el.dataset.closeFor, el.querySelector("select").value);
    }
  });
  document.body.addEventListener("htmx:afterSwap", (e) => {
    if (!e.detail.target || e.detail.target.id !== "board") return;
    for (const [id, referral] of open) {
      const el = e.detail.target.querySelector(`[data-close-for="${CSS.escape(id)}"]`);
      if (!el) continue;
      el.open = true;
      el.querySelector("select").value = referral;
    }
  });
})();
