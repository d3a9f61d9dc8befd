// The board's registries (partials/registries.html): Edit opens a row's form, Remove asks first, in the page's
// language, then calls the API. The panel reloads at once after either; other boards follow the stream's
// "registry" event. Plain script, texts from #nw-strings.
"use strict";
(function () {
  // The page's words, its toasts and its API calls are app.js's, which runs first.
  const { t, toast, api } = window.Nightwatch;

  const refresh = () => document.body.dispatchEvent(new Event("nw:refresh"));
  const PATHS = { responder: "/api/v1/responders/", gateway: "/api/v1/gateways/", device: "/api/v1/devices/" };
  const path = (kind, id) => PATHS[kind] + encodeURIComponent(id);
  const CONFIRM = {
    responder: (name) => t("reg.confirm.responder", { name }),
    gateway: (name) => t("reg.confirm.gateway", { name }),
    device: (name) => t("reg.confirm.device", { name }),
  };

  function toggle(button, open) {
    const row = document.getElementById(button.getAttribute("aria-controls"));
    if (!row) return;
    row.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) row.querySelector("input, select")?.focus();
  }

  // What each form sends: the API's own bodies (ResponderIn, GatewayIn, DeviceEdit).
  function body(kind, form) {
    const f = form.elements;
    if (kind === "gateway") return { lat: Number(f.lat.value), lon: Number(f.lon.value) };
    if (kind === "device") return { label: f.label.value.trim() || null };
    const out = {
      name: f.name.value.trim(),
      language: f.language.value,
      skills: [...form.querySelectorAll("input[name=skills]:checked")].map((el) => el.value),
      shift: f.shift.value.trim() || null,
    };
    if (form.dataset.team) out.team = form.dataset.team; // kept as it was: this form does not edit it
    return out;
  }

  document.addEventListener("click", async (e) => {
    const edit = e.target.closest("[data-reg-edit]");
    if (edit) return toggle(edit, edit.getAttribute("aria-expanded") !== "true");
    const cancel = e.target.closest("[data-reg-cancel]");
    if (cancel) {
      const row = cancel.closest("tr.reg-edit");
      const button = document.querySelector(`[aria-controls="${row.id}"]`);
      return button ? toggle(button, false) : undefined;
    }
    const remove = e.target.closest("[data-reg-remove]");
    if (!remove) return;
    const { regRemove: kind, id, name } = remove.dataset;
    if (!confirm(CONFIRM[kind](name))) return;
    try {
      await api("DELETE", path(kind, id));
      remove.closest("tr")?.remove(); // gone from this board now; the reload confirms it
      toast(t("reg.removed", { name }));
      refresh();
    } catch (err) {
      window.Nightwatch.fail(err);
    }
  });

  // The panel reloads on the stream's events and every 30 s: not while an operator is typing in one of its forms.
  document.body.addEventListener("htmx:beforeRequest", (e) => {
    const panel = e.detail.elt;
    if (panel && panel.id === "registries" && panel.querySelector("tr.reg-edit:not([hidden])")) e.preventDefault();
  });

  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("[data-reg-form]");
    if (!form) return;
    e.preventDefault();
    const kind = form.dataset.regForm;
    const method = kind === "device" ? "PATCH" : "PUT";
    try {
      const doc = await api(method, path(kind, form.dataset.id), body(kind, form));
      const button = document.querySelector(`[aria-controls="${form.closest("tr.reg-edit").id}"]`);
      if (button) toggle(button, false);
      toast(t("reg.saved", { name: (doc && doc.name) || form.dataset.name }));
      refresh();
    } catch (err) {
      window.Nightwatch.fail(err);
    }
  });
})();
