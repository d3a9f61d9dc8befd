// Patrol zones on the operator's board (partials/zones_panel.html): the zones drawn on the map, and a panel to
// draw one (a click on the map at each corner), name it, choose the responders and teams bound to it, change
// that binding later and remove a zone. Alarms inside a zone are offered first to those bound to it (zones.py).
// The API calls, the strings and the error toasts are app.js's (window.Nightwatch); the map is map.js's, handed
// over in the "nw:operator-map" event. Plain script.
"use strict";
(function () {
  const nw = () => window.Nightwatch;
  const STYLE = { color: "#c9a2ff", weight: 2, dashArray: "8 5", fillColor: "#c9a2ff", fillOpacity: 0.08, interactive: false };
  let map = null;
  let zones = [];
  const drawn = new Map(); // zone id -> its layers on the map
  let draft = null; // the outline being drawn or bound: { id, points, layers }

  const $ = (sel) => document.querySelector(sel);

  function label(text) {
    const span = document.createElement("span");
    span.textContent = text; // a name as typed: text, never markup
    return L.divIcon({ className: "nw-marker nw-above nw-zone-label", html: span.outerHTML, iconSize: null });
  }

  // The name sits above the zone's northern edge: inside it, it would cover the alarms and people in the zone.
  function top(points) {
    const lons = points.map((p) => p[1]);
    return [Math.max(...points.map((p) => p[0])), (Math.min(...lons) + Math.max(...lons)) / 2];
  }

  function draw() {
    for (const layers of drawn.values()) layers.forEach((l) => l.remove());
    drawn.clear();
    if (!map) return;
    for (const z of zones) {
      const shape = L.polygon(z.polygon, { ...STYLE, className: "nw-zone" }).addTo(map);
      const name = L.marker(top(z.polygon), { icon: label(z.name), interactive: false, keyboard: false }).addTo(map);
      drawn.set(z.id, [shape, name]);
    }
  }

  async function people() {
    return nw().api("GET", "/api/v1/responders");
  }

  function bound(z, everyone) {
    const { t } = nw();
    const names = z.responders.map((id) => (everyone.find((r) => r.id === id) || { name: id }).name);
    const teams = z.teams.map((team) => t("zones.team", { team }));
    const all = [...names, ...teams];
    return all.length ? t("zones.bound", { list: all.join(", ") }) : t("zones.nobody");
  }

  function item(z, everyone) {
    const { t } = nw();
    const li = document.createElement("li");
    li.dataset.zone = z.id;
    const name = document.createElement("strong");
    name.textContent = z.name;
    const who = document.createElement("span");
    who.className = "hint";
    who.textContent = bound(z, everyone);
    const edit = nw().rowButton(t("zones.edit"), z.name, { zoneEdit: z.id });
    const remove = nw().rowButton(t("zones.remove"), z.name, { zoneRemove: z.id }, true);
    li.append(name, " ", who, " ", edit, " ", remove);
    return li;
  }

  async function load() {
    const [found, everyone] = await Promise.all([nw().api("GET", "/api/v1/zones"), people()]);
    zones = found;
    draw();
    const list = $("[data-zone-list]");
    if (!list) return;
    if (!zones.length) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = nw().t("zones.none");
      list.replaceChildren(li);
    } else list.replaceChildren(...zones.map((z) => item(z, everyone)));
  }

  // -- drawing ----------------------------------------------------------------------------------------------------

  function sketch() {
    if (!draft) return;
    draft.layers.forEach((l) => l.remove());
    draft.layers = [];
    if (!map || !draft.points.length) return;
    const style = { ...STYLE, color: "#ffb020", fillColor: "#ffb020", className: "nw-zone-draft" };
    const outline = draft.points.length >= 3 ? L.polygon(draft.points, style) : L.polyline(draft.points, style);
    draft.layers.push(outline.addTo(map));
    for (const p of draft.points) {
      draft.layers.push(L.circleMarker(p, { radius: 5, color: "#ffb020", weight: 2, fillOpacity: 1, interactive: false }).addTo(map));
    }
  }

  // A corner from a click on the map, or, without a pointer, the map's centre after moving it with the arrow keys.
  function corner(latlng) {
    // The service takes 200 corners at most (zones.py): more would only be refused at Save.
    if (!draft || document.body.dataset.drawingZone !== "yes" || draft.points.length >= 200) return;
    draft.points.push([latlng.lat, latlng.lng]);
    sketch();
    counted();
  }

  function counted() {
    const n = draft ? draft.points.length : 0;
    $("[data-zone-count]").textContent = n >= 3 ? nw().t("zones.points_ready", { n }) : nw().t("zones.points", { n });
    $("[data-zone-finish]").disabled = n < 3;
    $("[data-zone-undo]").disabled = n === 0;
  }

  function show(part) {
    // One of: the list with its "Draw" button, the drawing step, or the form.
    $("[data-zone-draw]").hidden = part !== "list";
    $("[data-zone-drawing]").hidden = part !== "drawing";
    $("[data-zone-form]").hidden = part !== "form";
    if (part === "drawing") document.body.dataset.drawingZone = "yes";
    else delete document.body.dataset.drawingZone;
  }

  function newId() {
    return "z-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 6);
  }

  function start() {
    stop();
    draft = { id: newId(), points: [], layers: [] };
    show("drawing");
    counted();
  }

  function stop() {
    if (draft) draft.layers.forEach((l) => l.remove());
    draft = null;
    $("[data-zone-error]").hidden = true;
    show("list");
  }

  function choice(name, value, text, checked) {
    const lab = document.createElement("label");
    lab.className = "choice";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = name;
    box.value = value;
    box.checked = checked;
    lab.append(box, " " + text);
    return lab;
  }

  async function form(z) {
    const { t } = nw();
    const f = $("[data-zone-form]");
    const everyone = await people();
    f.elements.name.value = z ? z.name : "";
    $("[data-zone-form-title]").textContent = z ? t("zones.editing", { name: z.name }) : t("zones.new");
    const chosen = new Set(z ? z.responders : []);
    const who = everyone.map((r) => choice("responders", r.id, r.name, chosen.has(r.id)));
    // A responder bound but since gone from the list still shows, so saving keeps or drops them knowingly.
    for (const id of chosen) if (!everyone.some((r) => r.id === id)) who.push(choice("responders", id, id, true));
    $("[data-zone-responders]").replaceChildren(...(who.length ? who : [hint(t("zones.no_responders"))]));
    const teams = new Set(everyone.map((r) => r.team).filter(Boolean));
    for (const team of z ? z.teams : []) teams.add(team);
    const picked = new Set(z ? z.teams : []);
    const boxes = [...teams].sort().map((team) => choice("teams", team, t("zones.team", { team }), picked.has(team)));
    $("[data-zone-teams]").replaceChildren(...(boxes.length ? boxes : [hint(t("zones.no_teams"))]));
    show("form");
    f.elements.name.focus();
  }

  function hint(text) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = text;
    return p;
  }

  async function save(e) {
    e.preventDefault();
    if (!draft) return;
    const f = e.target;
    const error = $("[data-zone-error]");
    const checked = (name) => [...f.querySelectorAll(`input[name=${name}]:checked`)].map((b) => b.value);
    const body = {
      name: f.elements.name.value.trim(),
      polygon: draft.points,
      responders: checked("responders"),
      teams: checked("teams"),
    };
    const button = f.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      if (!body.name) throw Object.assign(new Error("name"), { status: 422, detail: "name: " + nw().t("zones.name_needed") });
      await nw().api("PUT", "/api/v1/zones/" + encodeURIComponent(draft.id), body);
      const name = body.name;
      stop();
      nw().toast(nw().t("zones.saved", { name }));
      await load();
    } catch (err) {
      const { message, detail } = nw().explain(err);
      const said = document.createElement("span");
      said.className = "toast-detail";
      said.lang = "en";
      said.textContent = detail ? nw().t("a11y.server_said") + ": " + detail : "";
      error.replaceChildren(message, said);
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  async function remove(id) {
    const z = zones.find((x) => x.id === id);
    try {
      await nw().api("DELETE", "/api/v1/zones/" + encodeURIComponent(id));
      nw().toast(nw().t("zones.removed", { name: z ? z.name : id }));
    } catch (err) {
      nw().fail(err);
    }
    await load();
  }

  document.addEventListener("click", (e) => {
    const el = e.target.closest("[data-zone-draw], [data-zone-finish], [data-zone-undo], [data-zone-cancel], [data-zone-edit], [data-zone-remove], [data-zone-centre]");
    if (!el || !$("[data-zone-form]")) return;
    if (el.matches("[data-zone-draw]")) start();
    else if (el.matches("[data-zone-cancel]")) stop();
    else if (el.matches("[data-zone-undo]") && draft) { draft.points.pop(); sketch(); counted(); }
    else if (el.matches("[data-zone-centre]") && map) corner(map.getCenter());
    else if (el.matches("[data-zone-finish]") && draft && draft.points.length >= 3) form(null).catch(nw().fail);
    else if (el.matches("[data-zone-edit]")) {
      const z = zones.find((x) => x.id === el.dataset.zoneEdit);
      if (!z) return;
      stop();
      draft = { id: z.id, points: z.polygon, layers: [] };
      form(z).catch(nw().fail);
    } else if (el.matches("[data-zone-remove]")) remove(el.dataset.zoneRemove);
  });
  document.addEventListener("submit", (e) => { if (e.target.matches("[data-zone-form]")) save(e); });

  document.addEventListener("nw:operator-map", (e) => {
    map = e.detail;
    map.on("click", (ev) => corner(ev.latlng));
    load().catch(() => {});
    // Another operator's changes show within half a minute.
    setInterval(() => { if (!draft) load().catch(() => {}); }, 30000);
  });
})();
