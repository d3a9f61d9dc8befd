// The operator's phone intake on the board: "New request" opens a form beside the map; a click on the map gives
// the caller's point (map.js sends it here), and the form shows how far the nearest on-duty patrols are from it.
// Sent to POST /api/v1/incidents, which offers it as any alarm. Plain script, texts from #nw-strings.
"use strict";
(function () {
  // The page's words and its API calls are app.js's, which runs first.
  const { t, api } = window.Nightwatch;
  const dialog = document.getElementById("intake");
  const form = document.getElementById("intake-form");
  let point = null;

  // Great-circle distance in metres, as geo.py reckons it for assignment.
  function metres(a, b) {
    const rad = Math.PI / 180;
    const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * 6371000 * Math.asin(Math.sqrt(h));
  }
  function distance(m) {
    const km = new Intl.NumberFormat(document.documentElement.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    return m < 1000 ? t("unit.m", { n: Math.round(m / 10) * 10 }) : t("unit.km", { n: km.format(m / 1000) });
  }

  async function nearest() {
    const out = dialog.querySelector("[data-intake-nearest]");
    if (!point) { out.textContent = ""; return; }
    const kind = form.elements.kind.value;
    const people = (await api("GET", "/api/v1/responders"))
      .filter((r) => r.on_duty && r.position && (kind === "emergency" || r.skills.includes("patrol")))
      .map((r) => ({ name: r.name, m: metres(point, r.position) }))
      .sort((a, b) => a.m - b.m)
      .slice(0, 3);
    out.textContent = people.length
      ? t("intake.nearest", { list: people.map((p) => `${p.name} ${distance(p.m)}`).join(", ") })
      : t("intake.no_patrol");
  }

  function setPoint(p) {
    point = p;
    dialog.querySelector("[data-intake-point]").textContent = p
      ? t("intake.point", { lat: p.lat.toFixed(5), lon: p.lon.toFixed(5) })
      : t("intake.no_point");
    dialog.querySelector("[data-intake-clear]").hidden = !p;
    dialog.dataset.lat = p ? p.lat : "";
    dialog.dataset.lon = p ? p.lon : "";
    document.dispatchEvent(new CustomEvent("nw:intake-show", { detail: p }));
    nearest().catch(() => {});
  }

  function close() {
    form.reset();
    setPoint(null);
    dialog.querySelector("[data-intake-error]").hidden = true;
    dialog.close();
  }

  function body() {
    const f = form.elements;
    const text = (name) => f[name].value.trim() || undefined;
    const out = { kind: f.kind.value, callback_number: f.callback_number.value.trim() };
    for (const name of ["caller_name", "address", "notes"]) if (text(name)) out[name] = text(name);
    if (point) Object.assign(out, { lat: point.lat, lon: point.lon });
    return out;
  }

  document.addEventListener("nw:intake-point", (e) => setPoint(e.detail));
  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-intake-open]")) { if (!dialog.open) dialog.show(); form.elements.callback_number.focus(); }
    else if (e.target.closest("[data-intake-cancel]")) close();
    else if (e.target.closest("[data-intake-clear]")) setPoint(null);
  });
  form.addEventListener("change", (e) => { if (e.target.name === "kind") nearest().catch(() => {}); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = dialog.querySelector("[data-intake-error]");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const doc = await api("POST", "/api/v1/incidents", body());
      close();
      const toast = document.getElementById("toast");
      toast.textContent = t("intake.created", { id: doc.id });
      toast.hidden = false;
      setTimeout(() => { toast.hidden = true; }, 6000);
      document.body.dispatchEvent(new Event("nw:refresh"));
    } catch (err) {
      const { message, detail } = window.Nightwatch.explain(err);
      const said = document.createElement("span");
      said.className = "toast-detail";
      said.lang = "en";
      said.textContent = detail ? t("a11y.server_said") + ": " + detail : "";
      error.replaceChildren(message, said);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
})();
