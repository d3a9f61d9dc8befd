// The operator's desk beyond the board: the walk-me-home page's switch and block list (partials/walk_desk.html),
// "block this number" and "place on the map" on a request without a key ring. Plain script, texts from #nw-strings.
"use strict";
(function () {
  // The page's words, its toasts and its API calls are app.js's, which runs first.
  const { t, toast, api } = window.Nightwatch;
  let placing = null;

  const refresh = () => document.body.dispatchEvent(new Event("nw:refresh"));
  const number = (phone) => "/api/v1/blocked-numbers/" + encodeURIComponent(phone);

  document.addEventListener("click", async (e) => {
    const el = e.target.closest("[data-walk-set], [data-unblock], [data-block-caller], [data-place]");
    if (!el) return;
    try {
      if (el.dataset.walkSet) await api("PUT", "/api/v1/walk/override", { state: el.dataset.walkSet });
      else if (el.dataset.unblock) await api("DELETE", number(el.dataset.unblock));
      else if (el.dataset.blockCaller) {
        if (!confirm(t("desk.block_confirm", { phone: el.dataset.blockCaller }))) return;
        await api("PUT", number(el.dataset.blockCaller), { reason: t("desk.block_from_board") });
        toast(t("desk.blocked_now", { phone: el.dataset.blockCaller }));
      } else if (el.dataset.place) {
        // The next click on the map places it (map.js sends it here while the body says so).
        placing = el.dataset.place;
        document.body.dataset.placing = placing;
        toast(t("desk.place_hint"));
        return;
      }
      refresh();
    } catch (err) {
      window.Nightwatch.fail(err);
    }
  });

  document.addEventListener("nw:place-point", async (e) => {
    if (!placing) return;
    const id = placing;
    placing = null;
    delete document.body.dataset.placing;
    try {
      await api("POST", `/api/v1/incidents/${encodeURIComponent(id)}/place`, { lat: e.detail.lat, lon: e.detail.lon });
      toast(t("desk.placed"));
      refresh();
    } catch (err) {
      window.Nightwatch.fail(err);
    }
  });

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && placing) { placing = null; delete document.body.dataset.placing; }
  });

  document.addEventListener("submit", async (e) => {
    const form = e.target.closest("[data-block-form]");
    if (!form) return;
    e.preventDefault();
    try {
      await api("PUT", number(form.phone.value.trim()), { reason: form.reason.value.trim() || null });
      form.reset();
      refresh();
    } catch (err) {
      window.Nightwatch.fail(err);
    }
  });
})();
