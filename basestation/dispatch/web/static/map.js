// Maps with Leaflet: the responder's view of one alarm, and the operator's city. No tiles unless the service has
// a tile URL set: then the map is the shipped outline of Leiden's centre, with a scale, and needs no internet.
// Markers are text and symbols (divIcon), so colour is never the only signal and no image is fetched.
"use strict";
window.NightwatchMap = (function () {
  const CENTRE = [52.1595, 4.4905];
  let outline = null;

  function label(cls, text) {
    return L.divIcon({ className: "nw-marker " + cls, html: "<span>" + text + "</span>", iconSize: null });
  }
  // Keys built from a name, not written in a t() call: they are listed for extraction in i18n_keys.py.
  const stateKey = (state) => "state." + state;
  const shortKindKey = (kind) => "kind.short." + kind;
  function escape(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function base(el, tileUrl) {
    const map = L.map(el, { attributionControl: !!tileUrl, zoomSnap: 0.25 }).setView(CENTRE, 15);
    if (tileUrl) {
      const osm = tileUrl.includes("openstreetmap");
      L.tileLayer(tileUrl, { maxZoom: 19, attribution: osm ? "&copy; OpenStreetMap contributors" : "" }).addTo(map);
    }
    L.control.scale({ metric: true, imperial: false }).addTo(map);
    outline = outline || fetch("/ui/static/leiden.geojson").then((r) => r.json());
    map.outlineReady = outline.then((geo) => {
      return L.geoJSON(geo, {
        interactive: false,
        style: (f) => (f.properties.kind === "water"
          ? { color: "#3d6f9e", weight: 4, opacity: 0.9, fill: false }
          : f.properties.kind === "street"
          ? { color: "#8a96a3", weight: 3, opacity: 0.7, dashArray: "2 6", fill: false }
          : { color: "#5c738a", weight: 2, dashArray: "6 4", fillColor: "#1a2533", fillOpacity: 0.5 }),
      }).addTo(map).bringToBack();
    });
    return map;
  }

  // One alarm: its estimated place with the uncertainty circle, and the responder when their position is known.
  function incident(el, tileUrl, t) {
    const map = base(el, tileUrl);
    const at = [Number(el.dataset.lat), Number(el.dataset.lon)];
    const radius = Number(el.dataset.radius) || 0;
    const circle = L.circle(at, { radius, color: "#ff5c5c", weight: 2, fillOpacity: 0.15 }).addTo(map);
    L.marker(at, { icon: label("nw-above nw-alarm", "&#9888; " + escape(t("map.alarm"))), keyboard: false }).addTo(map);
    const bounds = circle.getBounds();
    if (el.dataset.meLat) {
      const me = [Number(el.dataset.meLat), Number(el.dataset.meLon)];
      L.marker(me, { icon: label("nw-below nw-me", "&#9679; " + escape(t("map.you"))), keyboard: false }).addTo(map);
      bounds.extend(me);
    }
    map.fitBounds(bounds.pad(0.3), { maxZoom: 17 });
  }

  // The operator's city: gateways (online/offline), active incidents and responders on duty, kept live.
  function operator(el, tileUrl, t, api) {
    const map = base(el, tileUrl);
    const layers = { gateway: new Map(), incident: new Map(), responder: new Map() };

    function put(kind, id, latlng, icon, title, extra) {
      const old = layers[kind].get(id);
      if (old) old.forEach((l) => l.remove());
      if (!latlng) return layers[kind].delete(id);
      const parts = [L.marker(latlng, { icon, title, alt: title }).addTo(map)];
      if (extra) parts.push(extra.addTo(map));
      layers[kind].set(id, parts);
    }
    function gateway(g) {
      if (g.removed || g.lat == null) return put("gateway", g.id, null); // a removed gateway leaves the map
      const title = g.online ? t("map.gateway_online", { id: g.id }) : t("map.gateway_offline", { id: g.id });
      // A symbol only (the name is the marker's title, and in the registry): the map stays readable.
      const icon = label(g.online ? "nw-gw-on" : "nw-gw-off", g.online ? "&#9650;" : "&#9660;&#10005;");
      put("gateway", g.id, [g.lat, g.lon], icon, title);
    }
    function incidentMarker(inc) {
      const active = !["resolved", "cancelled"].includes(inc.state);
      if (!active || !inc.location) return put("incident", inc.id, null);
      const loc = inc.location;
      const kind = inc.forced ? "duress" : inc.kind;
      // Short on the map (the board has the words): a symbol for the state, so labels of nearby alarms stay apart.
      const mark = { accepted: " &#10003;", on_the_way: " &#10003;", escalated: " &#9650;&#9650;" }[inc.state] || " !";
      const text = "&#9888; " + escape(t(shortKindKey(kind))) + mark;
      const circle = L.circle([loc.lat, loc.lon], { radius: loc.radius_m || 0, color: "#ff5c5c", weight: 1, fillOpacity: 0.1, interactive: false });
      put("incident", inc.id, [loc.lat, loc.lon], label("nw-above nw-inc nw-inc-" + inc.state, text), t("map.incident", { id: inc.id }) + ": " + t(stateKey(inc.state)), circle);
    }
    function responder(r) {
      const p = r.on_duty && r.position;
      const first = escape(r.name.split(" ")[0]);
      put("responder", r.id, p ? [p.lat, p.lon] : null, label("nw-below nw-resp", "&#9679; " + first), t("map.responder", { name: r.name }));
    }
    async function load() {
      const [gws, incs] = await Promise.all([api("GET", "/api/v1/gateways"), api("GET", "/api/v1/incidents?active=true")]);
      gws.forEach(gateway);
      incs.forEach(incidentMarker);
      await responders();
      // The whole centre and every gateway in view.
      const bounds = (await map.outlineReady).getBounds();
      gws.filter((g) => g.lat != null).forEach((g) => bounds.extend([g.lat, g.lon]));
      map.fitBounds(bounds, { maxZoom: 16, padding: [8, 8] });
    }
    async function responders() {
      const all = await api("GET", "/api/v1/responders");
      all.forEach(responder);
      // One removed from the patrol is in the list no more: their marker goes too.
      const kept = new Set(all.map((r) => r.id));
      [...layers.responder.keys()].filter((id) => !kept.has(id)).forEach((id) => put("responder", id, null));
    }
    document.body.addEventListener("htmx:sseMessage", (e) => {
      const msg = e.detail;
      if (!msg || !msg.data || (e.target.id !== "board" && e.target.id !== "registries")) return;
      // The stream lost track of what was missed: reload everything (once, not once per listening element).
      if (msg.type === "resync") return e.target.id === "board" && load().catch(() => {});
      const doc = JSON.parse(msg.data);
      if (msg.type === "incident") incidentMarker(doc);
      else if (msg.type === "gateway") gateway(doc);
      else if (msg.type === "registry") responders().catch(() => {});
    });
    // The intake form (intake.js) takes the point a click gives, and shows it while the form is open.
    let picked = null;
    map.on("click", (e) => {
      if (document.body.dataset.drawingZone) return; // a corner of a patrol zone being drawn (zones.js)
      // An operator placing a request without a ring (desk.js) takes the click first.
      if (document.body.dataset.placing) {
        document.dispatchEvent(new CustomEvent("nw:place-point", { detail: { lat: e.latlng.lat, lon: e.latlng.lng } }));
        return;
      }
      if (!document.getElementById("intake")?.open) return;
      document.dispatchEvent(new CustomEvent("nw:intake-point", { detail: { lat: e.latlng.lat, lon: e.latlng.lng } }));
    });
    document.addEventListener("nw:intake-show", (e) => {
      if (picked) picked.remove();
      picked = null;
      const p = e.detail;
      if (p) picked = L.marker([p.lat, p.lon], { icon: label("nw-above nw-pick", "&#10010; " + escape(t("intake.where"))), keyboard: false }).addTo(map);
    });
    // A new connection may have missed anything: load it all again.
    document.body.addEventListener("htmx:sseOpen", () => load().catch(() => {}));
    // Duty changes are not on the stream: look again every 15 s.
    setInterval(() => responders().catch(() => {}), 15000);
    load().catch(() => {});
    document.dispatchEvent(new CustomEvent("nw:operator-map", { detail: map })); // the patrol zones draw on it
    return map;
  }

  // The walk-me-home page: where the person is, by a tap on the map (or their browser's position, which the page
  // sets with place()). onPick gets {lat, lon}; the marker can be dragged to correct it.
  function picker(el, tileUrl, t, onPick) {
    const map = base(el, tileUrl);
    let marker = null;
    function place(lat, lon, fromMap) {
      if (!marker) {
        marker = L.marker([lat, lon], { draggable: true, icon: label("nw-above nw-pick", "&#10010; " + escape(t("walk.you_are_here"))), title: t("walk.you_are_here"), alt: t("walk.you_are_here") }).addTo(map);
        marker.on("dragend", () => { const p = marker.getLatLng(); onPick({ lat: p.lat, lon: p.lng }); });
      } else marker.setLatLng([lat, lon]);
      if (!fromMap) map.setView([lat, lon], Math.max(map.getZoom(), 16));
      onPick({ lat, lon });
    }
    map.on("click", (e) => place(e.latlng.lat, e.latlng.lng, true));
    // The centre in view, unless a place was set meanwhile (the outline may load after the browser's position).
    map.outlineReady.then((geo) => { if (!marker) map.fitBounds(geo.getBounds(), { maxZoom: 16 }); }).catch(() => {});
    return { map, place, clear: () => { if (marker) marker.remove(); marker = null; } };
  }

  return { incident, operator, picker };
})();
