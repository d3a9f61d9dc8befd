// The hand-over to 112 on the operator's board: the button records it through the API, whose answer is the script
// to read out; the dialog shows it in both languages, each copyable. Plain script beside app.js, no build step;
// every text comes from the page's catalogue (#nw-strings).
"use strict";
(function () {
  // The page's words and its API calls are app.js's, which runs first.
  const { t, api } = window.Nightwatch;

  const handOver = (id) => api("POST", `/api/v1/incidents/${encodeURIComponent(id)}/handover`);

  function show(doc) {
    const dialog = document.getElementById("handover");
    dialog.dataset.incident = doc.incident_id;
    dialog.dataset.centre = doc.monitoring_centre;
    dialog.querySelector("[data-handover-id]").textContent = "#" + doc.incident_id;
    for (const pre of dialog.querySelectorAll("[data-script]")) pre.textContent = doc.script[pre.dataset.script];
    for (const button of dialog.querySelectorAll("[data-copy]")) button.textContent = t("handover.copy");
    const clock = new Intl.DateTimeFormat(document.documentElement.lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const who = doc.handed_over_by === "operator" ? t("nav.operator") : doc.handed_over_by.replace(/^operator:/, "");
    const centre = doc.monitoring_centre === "queued" ? t("handover.centre_queued") : t("handover.centre_none");
    dialog.querySelector("[data-handover-status]").textContent =
      t("handover.recorded", { time: clock.format(new Date(doc.handed_over_ms)), who }) + " " + centre;
    if (!dialog.open) dialog.showModal();
  }

  async function copy(button) {
    const pre = document.querySelector(`#handover [data-script="${button.dataset.copy}"]`);
    try {
      await navigator.clipboard.writeText(pre.textContent);
    } catch {
      // No clipboard API (a page not served over HTTPS, or refused): select the text, so Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      if (!document.execCommand("copy")) return;
    }
    button.textContent = t("handover.copied");
  }

  document.addEventListener("click", async (e) => {
    const el = e.target.closest("[data-handover], [data-copy]");
    if (!el) return;
    if (el.dataset.copy) return copy(el);
    el.disabled = true;
    try {
      show(await handOver(el.dataset.handover));
      document.body.dispatchEvent(new Event("nw:refresh")); // the timeline shows the hand-over
    } catch (err) {
      window.Nightwatch.fail(err);
    } finally {
      el.disabled = false;
    }
  });
})();
