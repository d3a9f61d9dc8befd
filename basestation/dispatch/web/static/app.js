// Nightwatch web app: the token, htmx wiring, the live stream's start, and the buttons that call the API.
// Plain script, no build step. Every text comes from the server's catalogue (#nw-strings) in the page's language.
"use strict";
(function () {
  const TOKEN = "nightwatch.token";
  const strings = JSON.parse(document.getElementById("nw-strings").textContent);
  const page = document.documentElement.dataset.page;
  const seenAlarms = new Set();
  const dismissed = new Set(JSON.parse(sessionStorage.getItem("nightwatch.dismissed") || "[]"));
  const chosenReferral = new Map(); // incident id -> referral: the screen is swapped often, the choice must stay
  let dutyWatch = null;

  function t(key, values) {
    let s = strings[key] || key;
    for (const [k, v] of Object.entries(values || {})) s = s.replace("{" + k + "}", v);
    return s;
  }
  const token = () => localStorage.getItem(TOKEN);

  // An error or a confirmation; the server's own words (English) below the page's, marked as English.
  function show(el, message, detail) {
    const main = document.createElement("span");
    main.textContent = message;
    el.replaceChildren(main);
    if (detail) {
      const small = document.createElement("span");
      small.className = "toast-detail";
      small.lang = "en";
      small.textContent = t("a11y.server_said") + ": " + detail;
      el.append(small);
    }
    el.hidden = false;
    clearTimeout(el.timer);
    el.timer = setTimeout(() => { el.hidden = true; }, detail ? 10000 : 6000);
  }
  function toast(message, detail) { show(document.getElementById("toast"), message, detail); }

  // The server refuses in English ("incident is resolved"): the page says why in its own language, by the status.
  function explain(err) {
    const status = err && err.status;
    // fetch() rejects with a TypeError when the server cannot be reached; anything else is the browser's own.
    if (status === undefined) {
      return err instanceof TypeError ? { message: t("a11y.error.network"), detail: "" }
        : { message: t("a11y.error.other"), detail: (err && err.message) || "" };
    }
    // Each key written out in a t() call, so that extraction finds it.
    const message = status === 400 || status === 422 ? t("a11y.error.input")
      : status === 403 ? t("a11y.error.forbidden")
      : status === 404 ? t("a11y.error.gone")
      : status === 409 ? t("a11y.error.conflict")
      : status === 429 ? t("a11y.error.busy")
      : status >= 500 ? t("a11y.error.server")
      : t("a11y.error.other");
    return { message, detail: err.detail || "" };
  }
  function fail(err) {
    const { message, detail } = explain(err);
    toast(message, detail);
  }
  // A refusal as an Error that keeps the status and the server's words (a 422 lists each refused field).
  function refused(r, doc) {
    const d = doc && doc.detail;
    const err = new Error(String(r.status));
    err.status = r.status;
    err.detail = Array.isArray(d) ? d.map((x) => `${(x.loc || []).slice(1).join(".") || "body"}: ${x.msg}`).join("; ") : d || r.statusText;
    return err;
  }
  window.Nightwatch = { explain, fail, refused, toast };

  // A request with the bearer header, for every page script (window.Nightwatch): a refused token signs out, any
  // other refusal throws with the status and the server's words. The Response, for its headers and body.
  async function authed(path, init) {
    const r = await fetch(path, { ...init, headers: { ...(init && init.headers), Authorization: "Bearer " + token() } });
    if (r.status === 401) { logout(true); throw refused(r, null); }
    if (!r.ok) throw refused(r, (r.headers.get("content-type") || "").includes("json") ? await r.json() : null);
    return r;
  }
  // A JSON call: the answer's JSON, or null for an answer without a body.
  async function api(method, path, body) {
    const init = body === undefined ? { method } : { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const r = await authed(path, init);
    return (r.headers.get("content-type") || "").includes("json") ? r.json() : null;
  }
  // An action on a list's row (Edit, Remove, Revoke): its words, and for a screen reader whose row it acts on.
  function rowButton(text, name, data, danger) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = danger ? "link-button danger" : "link-button";
    Object.assign(b.dataset, data);
    b.textContent = text;
    b.setAttribute("aria-label", text + ": " + name);
    return b;
  }
  Object.assign(window.Nightwatch, { api, authed, rowButton, t });

  // revoked: the token stopped working (revoked, or replaced by a new sign-in link): the sign-in page says so.
  async function logout(revoked) {
    if (revoked === true && token()) sessionStorage.setItem("nightwatch.signed_out", "1");
    localStorage.removeItem(TOKEN);
    await fetch("/ui/logout", { method: "POST" }).catch(() => {});
    if (page !== "login") location.assign("/ui/");
  }

  // -- time since press, ticking every second ------------------------------------------------------------------
  function since(ms) {
    const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s < 60) return t("unit.s", { s });
    if (s < 3600) return t("unit.min_s", { m: Math.floor(s / 60), s: s % 60 });
    return t("unit.h_min", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  }
  function tick() {
    for (const el of document.querySelectorAll("[data-since]")) {
      el.textContent = t("alarm.ago", { t: since(Number(el.dataset.since)) });
    }
  }
  function clocks(root) {
    const fmt = new Intl.DateTimeFormat(document.documentElement.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    for (const el of root.querySelectorAll("time[data-clock]")) {
      const d = new Date(Number(el.dataset.clock));
      el.textContent = fmt.format(d);
      el.dateTime = d.toISOString();
    }
  }

  // -- sound and vibration for a new alarm, where the browser allows ----------------------------------------
  let audio = null;
  function unlockAudio() {
    if (!audio && window.AudioContext) audio = new AudioContext();
    if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  }
  function alert() {
    if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 800]);
    if (!audio || audio.state !== "running") return;
    // Two-tone siren, generated: no sound file to ship or fetch.
    const now = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    for (let i = 0; i < 6; i++) osc.frequency.setValueAtTime(i % 2 ? 660 : 880, now + i * 0.25);
    gain.gain.setValueAtTime(0.2, now);
    gain.gain.setValueAtTime(0, now + 1.5);
    osc.connect(gain).connect(audio.destination);
    osc.start(now);
    osc.stop(now + 1.6);
  }

  // A swap replaces the buttons: the one that had focus is found again in the new content by what it does, so
  // a refined location or a tick of the board never throws a keyboard or screen-reader user back to the top.
  const SAME = ["id", "data-action", "data-id", "data-duty", "data-push", "data-dismiss", "data-handover", "data-place"];
  let focusedBefore = null;
  function remember(root) {
    const el = document.activeElement;
    if (!el || el === document.body || !root.contains(el)) { focusedBefore = null; return; }
    const parts = SAME.filter((a) => el.hasAttribute(a)).map((a) => `[${a}="${CSS.escape(el.getAttribute(a))}"]`);
    focusedBefore = parts.length ? el.tagName.toLowerCase() + parts.join("") : null;
  }
  function restore(root) {
    const wanted = focusedBefore;
    focusedBefore = null;
    if (!wanted || (document.activeElement && document.activeElement !== document.body)) return;
    const again = root.querySelector(wanted);
    if (again) again.focus({ preventScroll: true });
  }

  function afterSwap(root) {
    restore(root);
    tick();
    clocks(root);
    for (const el of root.querySelectorAll("[data-standdown-id]")) {
      if (dismissed.has(el.dataset.standdownId)) el.hidden = true;
    }
    for (const el of root.querySelectorAll("[data-aftercare-id]")) {
      if (dismissed.has("care:" + el.dataset.aftercareId)) el.hidden = true;
    }
    for (const select of root.querySelectorAll("[data-referral-select]")) {
      const id = select.closest("[data-resolve]").dataset.resolve;
      if (chosenReferral.has(id)) select.value = chosenReferral.get(id);
      showReferral(select);
    }
    const alarm = root.querySelector("[data-alarm-id]");
    document.body.classList.toggle("has-alarm", !!alarm);
    if (alarm && !seenAlarms.has(alarm.dataset.alarmId)) {
      seenAlarms.add(alarm.dataset.alarmId);
      alert();
      // The phone showed it: the Web Push for it needs no more retries.
      api("POST", "/api/v1/incidents/" + encodeURIComponent(alarm.dataset.alarmId) + "/seen").catch(() => {});
      const accept = alarm.querySelector("[data-action=accept]");
      if (accept) accept.focus();
    }
    // Position is watched exactly while the server says this responder is on duty.
    if (root.querySelector("[data-duty=off]")) startWatch();
    else if (root.querySelector("[data-duty=on]") && dutyWatch !== null) {
      navigator.geolocation.clearWatch(dutyWatch);
      dutyWatch = null;
    }
    const tileUrl = document.getElementById("live").dataset.tileUrl || null;
    for (const el of root.querySelectorAll(".alarm-map")) window.NightwatchMap.incident(el, tileUrl, t);
  }

  function refresh() { document.body.dispatchEvent(new Event("nw:refresh")); }

  // -- aftercare: the chosen referral's card under the resolve form, to read out or show the person -------------
  function showReferral(select) {
    const form = select.closest("[data-resolve]");
    for (const el of form.querySelectorAll("[data-referral-care]")) el.hidden = el.dataset.referralCare !== select.value;
  }
  document.addEventListener("change", (e) => {
    const select = e.target.closest("[data-referral-select]");
    if (!select) return;
    chosenReferral.set(select.closest("[data-resolve]").dataset.resolve, select.value);
    showReferral(select);
  });

  // -- actions ---------------------------------------------------------------------------------------------------
  const ACTIONS = {
    accept: (id) => api("POST", `/api/v1/incidents/${id}/accept`, { eta_min: 0 }),
    decline: (id) => api("POST", `/api/v1/incidents/${id}/decline`),
    "on-the-way": (id) => api("POST", `/api/v1/incidents/${id}/on-the-way`),
    arrived: (id) => api("POST", `/api/v1/incidents/${id}/arrived`),
    escalate: (id) => api("POST", `/api/v1/incidents/${id}/escalate`),
  };

  async function setDuty(on) {
    if (!on) {
      if (dutyWatch !== null) navigator.geolocation.clearWatch(dutyWatch);
      dutyWatch = null;
      await api("PUT", "/api/v1/me/duty", { on_duty: false });
      return;
    }
    const pos = await new Promise((resolve) => {
      if (!navigator.geolocation) return resolve(null);
      navigator.geolocation.getCurrentPosition((p) => resolve(p.coords), () => resolve(null), { timeout: 8000, maximumAge: 30000 });
    });
    await api("PUT", "/api/v1/me/duty", pos ? { on_duty: true, lat: pos.latitude, lon: pos.longitude } : { on_duty: true });
    startWatch();
  }
  function startWatch() {
    // Position is shared only while on duty; at most one update a minute, to spare the battery.
    if (!navigator.geolocation || dutyWatch !== null) return;
    let last = 0;
    dutyWatch = navigator.geolocation.watchPosition((p) => {
      if (Date.now() - last < 60000) return;
      last = Date.now();
      api("PUT", "/api/v1/me/duty", { on_duty: true, lat: p.coords.latitude, lon: p.coords.longitude }).catch(() => {});
    }, () => {}, { maximumAge: 60000 });
  }

  // The service worker may never become ready (a failed install, a private window) and the push service may not
  // answer: past this the button gives up and says so, instead of staying disabled for ever.
  const PUSH_TIMEOUT_MS = 15000;
  function inTime(promise, ms) {
    let timer;
    const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("timeout")), ms); });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }
  async function enablePush(button) {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) return toast(t("push.unsupported"));
    const { key } = await api("GET", "/api/v1/push/public-key");
    if (!key) return toast(t("push.unavailable"));
    if ((await Notification.requestPermission()) !== "granted") return toast(t("push.denied"));
    let sub;
    try {
      sub = await inTime((async () => {
        const reg = await navigator.serviceWorker.ready;
        const raw = atob(key.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (key.length % 4)) % 4));
        return reg.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: Uint8Array.from(raw, (c) => c.charCodeAt(0)),
        });
      })(), PUSH_TIMEOUT_MS);
    } catch (err) {
      if (err.message !== "timeout") throw err;
      return toast(t("a11y.push_timeout"));
    }
    await api("POST", "/api/v1/me/push-subscription", sub.toJSON());
    button.textContent = t("push.on");
  }

  document.addEventListener("click", async (e) => {
    unlockAudio();
    const el = e.target.closest("[data-action], [data-duty], [data-push], [data-dismiss], [data-logout], [data-print]");
    if (!el) return;
    if (el.dataset.logout !== undefined) return logout();
    if (el.dataset.print !== undefined) return window.print();
    if (el.dataset.dismiss) {
      dismissed.add(el.dataset.dismiss);
      sessionStorage.setItem("nightwatch.dismissed", JSON.stringify([...dismissed]));
      el.closest("[data-standdown-id], [data-aftercare-id]").hidden = true;
      return;
    }
    el.disabled = true;
    try {
      if (el.dataset.action) await ACTIONS[el.dataset.action](encodeURIComponent(el.dataset.id));
      else if (el.dataset.duty) await setDuty(el.dataset.duty === "on");
      else if (el.dataset.push !== undefined) await enablePush(el);
      refresh();
    } catch (err) {
      fail(err);
    } finally {
      el.disabled = false;
    }
  });

  // A wearer's card: the API wants the bearer header, which a plain link cannot send, so the PDF is fetched here
  // and opened from memory. The tab is opened before the fetch, while the click still allows a new window.
  document.addEventListener("click", async (e) => {
    const link = e.target.closest("[data-card]");
    if (!link) return;
    e.preventDefault();
    const tab = window.open("", "_blank");
    try {
      const r = await fetch(link.getAttribute("href"), { headers: { Authorization: "Bearer " + token() } });
      if (r.status === 401) return logout(true);
      if (!r.ok) throw refused(r, null);
      const url = URL.createObjectURL(await r.blob());
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      if (tab) tab.location.href = url;
      else {
        // The browser refused the tab: the card is saved as a file instead, and the board stays open.
        const save = document.createElement("a");
        save.href = url;
        save.download = `nightwatch-card-${link.dataset.card}.pdf`;
        save.click();
      }
    } catch (err) {
      if (tab) tab.close();
      fail(err);
    }
  });

  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (form.id === "login-form") {
      e.preventDefault();
      return login(form.token.value.trim());
    }
    const id = form.dataset.resolve || form.dataset.assign;
    if (!id) return;
    e.preventDefault();
    try {
      if (form.dataset.resolve) {
        const referral = form.referral.value || null;
        await api("POST", `/api/v1/incidents/${encodeURIComponent(id)}/resolve`, { referral });
        // The card and its button leave the screen: say it is done, and take focus there rather than lose it.
        const done = document.getElementById("done");
        show(done, t("a11y.resolved", { id }));
        done.focus({ preventScroll: true });
      } else {
        await api("POST", `/api/v1/incidents/${encodeURIComponent(id)}/assign`, { responder: form.responder.value });
      }
      refresh();
    } catch (err) {
      fail(err);
    }
  });

  async function login(value) {
    const error = document.getElementById("login-error");
    const r = await fetch("/ui/login", { method: "POST", headers: { Authorization: "Bearer " + value } });
    if (!r.ok) {
      error.textContent = r.status === 403 ? t("login.no_view") : t("login.bad");
      error.hidden = false;
      return;
    }
    localStorage.setItem(TOKEN, value);
    location.assign((await r.json()).home);
  }

  // -- start -------------------------------------------------------------------------------------------------------
  function connection(live) {
    const el = document.getElementById("conn");
    el.hidden = false;
    el.dataset.live = live ? "yes" : "no";
    el.textContent = live ? "\u25CF " + t("conn.live") : "\u25B2 " + t("conn.lost");
  }

  async function start() {
    document.body.addEventListener("htmx:configRequest", (e) => {
      if (token()) e.detail.headers.Authorization = "Bearer " + token();
    });
    document.body.addEventListener("htmx:responseError", (e) => {
      if (e.detail.xhr.status === 401) logout(true);
    });
    document.body.addEventListener("htmx:beforeSwap", (e) => remember(e.detail.target));
    document.body.addEventListener("htmx:afterSwap", (e) => afterSwap(e.detail.target));
    document.body.addEventListener("htmx:sseOpen", () => { connection(true); refresh(); });
    document.body.addEventListener("htmx:sseError", async () => {
      connection(false);
      // A revoked account's stream is closed by the server at once: find out whether that is why, and sign out.
      const r = await fetch("/ui/login", { method: "POST", headers: { Authorization: "Bearer " + token() } }).catch(() => null);
      if (r && r.status === 401) logout(true);
    });
    setInterval(tick, 1000);
    // The public pages (walk me home, aftercare) need no token and have their own scripts.
    if (page === "walk" || page === "aftercare") return;
    if (page === "login") {
      if (sessionStorage.getItem("nightwatch.signed_out")) {
        sessionStorage.removeItem("nightwatch.signed_out");
        const error = document.getElementById("login-error");
        error.textContent = t("roster.signed_out");
        error.hidden = false;
      }
      // A link with the token in its fragment (`make demo` prints them) signs in at once. The fragment never
      // reaches the server or its logs, and is wiped from the address bar and history here.
      if (location.hash.startsWith("#token=")) {
        const value = decodeURIComponent(location.hash.slice(7));
        history.replaceState(null, "", location.pathname);
        return login(value);
      }
      if (token()) {
        const r = await fetch("/ui/login", { method: "POST", headers: { Authorization: "Bearer " + token() } });
        if (r.ok) location.assign((await r.json()).home);
      }
      return;
    }
    if (!token()) return location.assign("/ui/");
    // Refreshes the stream's cookie and checks the role before the live part starts.
    const r = await fetch("/ui/login", { method: "POST", headers: { Authorization: "Bearer " + token() } });
    if (!r.ok) return logout(r.status === 401);
    const session = await r.json();
    if (session.home !== location.pathname) return location.assign(session.home);
    const live = document.getElementById("live");
    live.appendChild(document.getElementById("live-template").content.cloneNode(true));
    htmx.process(live);
    if (page === "operator") window.NightwatchMap.operator(document.getElementById("op-map"), live.dataset.tileUrl || null, t, api);
    if (page === "responder") {
      if ("serviceWorker" in navigator) navigator.serviceWorker.register("/ui/sw.js", { scope: "/ui/" }).catch(() => {});
    }
  }
  document.addEventListener("DOMContentLoaded", start);
})();
