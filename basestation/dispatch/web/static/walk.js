// The public walk-me-home page: ask, then follow the request live, and cancel it. No token: the request's
// reference and secret stay in this browser (localStorage), so a reload or a locked phone loses nothing.
"use strict";
(function () {
  const KEY = "nightwatch.walk";
  const POLL_MS = 3000;
  const { t } = window.Nightwatch; // the page's words, app.js's (which needs no token for them)
  const root = document.getElementById("walk");
  const form = document.getElementById("walk-form");
  const status = document.getElementById("walk-status");
  const errorBox = document.getElementById("walk-error");
  const phone = root.dataset.patrolPhone;
  const lang = document.documentElement.lang;
  let point = null;
  let picker = null;
  let timer = null;

  const mine = () => JSON.parse(localStorage.getItem(KEY) || "null");

  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    errorBox.focus?.();
  }

  // Refusals carry their reason first ("closed: ...", "open: ..."); the person reads it in their own words.
  function refusal(r, doc) {
    const detail = (doc && doc.detail) || "";
    if (r.status === 403) return t("walk.error.blocked");
    if (r.status === 429) return t("walk.error.limit", { phone });
    if (r.status === 409 && String(detail).startsWith("closed")) return t("walk.closed") + " " + t("walk.call_instead", { phone });
    if (r.status === 409) return t("walk.error.open", { phone });
    if (r.status === 422 && Array.isArray(detail)) return t("walk.error.input", { detail: detail.map((d) => d.msg).join("; ") });
    return t("walk.error.input", { detail: String(detail) });
  }

  async function send(e) {
    e.preventDefault();
    errorBox.hidden = true;
    const f = form.elements;
    const where = f.where.value.trim();
    if (!point && !where) return fail(t("walk.need_where"));
    const body = {
      name: f.name.value.trim(), phone: f.phone.value.trim(), destination: f.destination.value.trim(),
      where: where || null, lang, website: f.website.value,
    };
    if (point) { body.lat = point.lat; body.lon = point.lon; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = t("walk.sending");
    try {
      const r = await fetch("/api/v1/walk", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const doc = await r.json().catch(() => null);
      if (!r.ok) return fail(refusal(r, doc));
      localStorage.setItem(KEY, JSON.stringify({ reference: doc.reference, secret: doc.secret }));
      follow(doc);
    } catch (err) {
      fail(t("walk.error.network", { phone }));
    } finally {
      button.disabled = false;
      button.textContent = t("walk.send");
    }
  }

  function clock(ms) {
    return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(ms));
  }

  // The aftercare the patrol member chose (referrals.aftercare): its name, what it is for, how to reach it.
  function aftercare(a) {
    const box = status.querySelector("[data-walk-aftercare-body]");
    const line = (text, tag) => { const el = document.createElement(tag || "p"); el.textContent = text; box.append(el); return el; };
    box.replaceChildren();
    line(a.name, "h3");
    if (a.about) line(a.about);
    for (const c of a.contacts || []) {
      const p = line("");
      const link = document.createElement("a");
      link.href = c.href;
      link.textContent = c.text;
      p.append(link);
      if (c.note) p.append(" (" + c.note + ")");
    }
    if (a.reach) line(a.reach);
    if (a.url) {
      const p = line("");
      const link = document.createElement("a");
      link.href = a.url;
      link.textContent = t("walk.print");
      p.append(link);
    }
  }

  function show(doc) {
    form.hidden = true;
    document.getElementById("walk-closed").hidden = true;
    status.hidden = false;
    status.querySelector("[data-walk-ref]").textContent = doc.reference;
    const state = status.querySelector("[data-walk-state]");
    // A status's words are built from its name (their keys are listed in i18n_keys.py, for extraction).
    const key = "walk.status." + doc.status;
    const text = doc.status === "coming" && doc.responder ? t("walk.status.coming_name", { name: doc.responder }) : t(key);
    if (state.textContent !== text) state.textContent = text;
    state.dataset.status = doc.status;
    const eta = status.querySelector("[data-walk-eta]");
    eta.hidden = !(doc.status === "coming" && doc.eta_ms);
    if (!eta.hidden) eta.textContent = t("walk.eta", { time: clock(doc.eta_ms) });
    status.querySelector("[data-walk-cancel]").hidden = !doc.can_cancel;
    const over = doc.status === "done" || doc.status === "cancelled";
    status.querySelector("[data-walk-again]").hidden = !over;
    status.querySelector("[data-walk-aftercare]").hidden = !doc.aftercare;
    if (doc.aftercare) aftercare(doc.aftercare);
    return over;
  }

  function follow(doc) {
    clearTimeout(timer);
    if (show(doc)) return;
    timer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    const m = mine();
    if (!m) return;
    try {
      const r = await fetch(`/api/v1/walk/${encodeURIComponent(m.reference)}?lang=${lang}`, { headers: { "X-Walk-Secret": m.secret } });
      if (r.status === 404) { localStorage.removeItem(KEY); return start(); }
      if (r.ok) return follow(await r.json());
    } catch (err) { /* offline for a moment: ask again */ }
    timer = setTimeout(poll, POLL_MS);
  }

  async function cancel() {
    const m = mine();
    if (!m || !confirm(t("walk.cancel_confirm"))) return;
    const r = await fetch(`/api/v1/walk/${encodeURIComponent(m.reference)}/cancel`, { method: "POST", headers: { "X-Walk-Secret": m.secret } });
    if (r.ok) follow(await r.json());
  }

  function locate() {
    const note = document.getElementById("walk-located");
    if (!navigator.geolocation) { note.textContent = t("walk.locate_failed"); return; }
    note.textContent = t("walk.locating");
    navigator.geolocation.getCurrentPosition(
      (p) => { picker.place(p.coords.latitude, p.coords.longitude, false); note.textContent = t("walk.located"); },
      () => { note.textContent = t("walk.locate_failed"); },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  }

  async function start() {
    status.hidden = true;
    if (mine()) return poll();
    let open = { open: true };
    try { open = await (await fetch("/api/v1/walk")).json(); } catch (err) { /* let the request itself say */ }
    if (!open.open) { document.getElementById("walk-closed").hidden = false; return; }
    form.hidden = false;
    if (!picker) picker = window.NightwatchMap.picker(document.getElementById("walk-map"), root.dataset.tileUrl || null, t, (p) => { point = p; });
  }

  form.addEventListener("submit", send);
  root.querySelector("[data-walk-locate]").addEventListener("click", locate);
  status.querySelector("[data-walk-cancel]").addEventListener("click", cancel);
  status.querySelector("[data-walk-again]").addEventListener("click", () => {
    localStorage.removeItem(KEY);
    form.reset();
    point = null;
    if (picker) picker.clear();
    start();
  });
  document.addEventListener("DOMContentLoaded", start);
})();
