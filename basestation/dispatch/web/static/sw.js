// Service worker: shows an offered alarm as a notification while no page is open, and opens the responder view
// when it is tapped. It caches nothing: an alarm screen must never show stale data.
"use strict";
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let doc = {};
  try { doc = event.data ? event.data.json() : {}; } catch (e) { doc = {}; }
  const lang = (self.navigator.language || "nl").toLowerCase().startsWith("en") ? "en" : "nl";
  const text = (doc.text && doc.text[lang]) || { title: "Nightwatch", body: "" };
  event.waitUntil(self.registration.showNotification(text.title, {
    body: text.body,
    tag: doc.incident || "nightwatch",
    renotify: true,
    requireInteraction: true,
    vibrate: [400, 150, 400, 150, 800],
    data: { incident: doc.incident },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const c of open) {
      if (new URL(c.url).pathname === "/ui/responder") return c.focus();
    }
    return self.clients.openWindow("/ui/responder");
  })());
});
