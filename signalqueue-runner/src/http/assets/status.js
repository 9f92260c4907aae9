// The status page's live view. Inlined into the page by status_page.rs.
//
// Counts and rates come from `events` (Server-Sent Events, about every 500 ms). When a
// queue's pending or dead count changes, that list's rows are fetched as the server renders
// them (status/queues/NAME/KIND, an HTML fragment) and swapped in: the markup has one
// renderer, status_page.rs. All URLs are relative, so the page also works behind a reverse
// proxy under a path prefix.
"use strict";
(function () {
  const last = new Map(); // queue -> counts last shown
  const loading = new Map(); // "queue/kind" -> a refresh is running
  const again = new Set(); // "queue/kind" -> refresh once more when it ends

  function q(sel) { return document.querySelectorAll(sel); }
  function attr(name, value) { return "[" + name + '="' + CSS.escape(value) + '"]'; }
  function setText(sel, text) { q(sel).forEach(function (el) { el.textContent = text; }); }

  function durationText(secs) {
    const d = Math.floor(secs / 86400), h = Math.floor(secs / 3600) % 24;
    const m = Math.floor(secs / 60) % 60, s = secs % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function setLive(state, text) {
    const el = document.getElementById("live");
    el.dataset.live = state;
    el.textContent = text;
  }

  function applySnapshot(snap) {
    setText("#uptime", durationText(snap.uptime_seconds));
    setText("#handled-total", String(snap.handled_total));
    setText("#handled-rate", snap.handled_per_second.toFixed(1));
    snap.queues.forEach(function (queue) {
      const name = queue.name;
      const inQueue = attr("data-queue", name);
      q(inQueue + attr("data-field", "error")).forEach(function (el) {
        el.hidden = !queue.error;
        el.textContent = queue.error || "";
      });
      setText(inQueue + attr("data-rate", "handled"), queue.handled_per_second.toFixed(1));
      setText(inQueue + attr("data-handled", "total"), String(queue.handled_total));
      if (!queue.counts) return;
      Object.keys(queue.counts).forEach(function (key) {
        setText(inQueue + attr("data-count", key), String(queue.counts[key]));
      });
      const before = last.get(name);
      last.set(name, queue.counts);
      // No counts before (the engine did not answer when the page was made): fill both lists.
      if (!before) { refresh(name, "pending"); refresh(name, "dead"); return; }
      // In-flight changes move entries out of the pending list too.
      if (before.pending !== queue.counts.pending || before.scheduled !== queue.counts.scheduled ||
          before.in_flight !== queue.counts.in_flight) refresh(name, "pending");
      if (before.dead !== queue.counts.dead) refresh(name, "dead");
    });
  }

  // One refresh per list at a time; a change during a refresh asks for one more after it.
  function refresh(queue, kind) {
    const key = queue + "/" + kind;
    if (loading.get(key)) { again.add(key); return; }
    loading.set(key, true);
    fetch("status/queues/" + encodeURIComponent(queue) + "/" + kind)
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (rows) {
        const table = document.querySelector("table" + attr("data-queue", queue) + attr("data-list", kind));
        // The server escaped every value it wrote into these rows.
        if (table) table.tBodies[0].innerHTML = rows;
      })
      .catch(function () { /* the next change retries */ })
      .finally(function () {
        loading.set(key, false);
        if (again.delete(key)) refresh(queue, kind);
      });
  }

  // Dead-letter actions: the token stays in this tab (sessionStorage), never in the page.
  const tokenInput = document.getElementById("token-input");
  if (tokenInput) {
    tokenInput.value = sessionStorage.getItem("signalqueue-admin-token") || "";
    tokenInput.addEventListener("change", function () {
      sessionStorage.setItem("signalqueue-admin-token", tokenInput.value);
    });
  }
  q("button[data-action]").forEach(function (button) {
    const enabled = document.body.dataset.actions === "true";
    button.disabled = !enabled;
    button.addEventListener("click", function () {
      const queue = button.dataset.queue, action = button.dataset.action;
      const out = document.querySelector(".action-result" + attr("data-queue", queue));
      if (action === "purge" && !confirm("Remove every dead letter of queue " + queue + "?")) return;
      fetch("api/queues/" + encodeURIComponent(queue) + "/dead/" + action, {
        method: "POST",
        headers: { "Authorization": "Bearer " + (tokenInput ? tokenInput.value : "") },
      })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          out.textContent = body.error ? body.error :
            action === "replay" ? body.replayed + " replayed" : body.purged + " purged";
          // Replayed entries may die again before the next snapshot, leaving the dead count
          // as it was: show the lists as they are now rather than wait for a count to change.
          refresh(queue, "dead");
          refresh(queue, "pending");
        })
        .catch(function (e) { out.textContent = String(e); });
    });
  });

  // Seed "last" with what the server rendered, so the first snapshot refreshes only lists
  // whose counts changed since the page was made.
  q("section.queue").forEach(function (section) {
    const counts = {};
    section.querySelectorAll("dd[data-count]").forEach(function (dd) {
      counts[dd.dataset.count] = Number(dd.textContent);
    });
    if (Object.values(counts).every(function (n) { return !Number.isNaN(n); })) {
      last.set(section.dataset.queue, counts);
    }
  });

  // The chart and the receivers and workers tables are redrawn by the server every few seconds: their
  // numbers move with every signal, and a fragment is cheaper than a snapshot of them.
  function swap(url, el) {
    if (!el) return;
    fetch(url)
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) { el.innerHTML = html; })
      .catch(function () { /* the next round retries */ });
  }
  setInterval(function () {
    swap("status/chart", document.getElementById("chart"));
    const receivers = document.querySelector("table.receivers");
    swap("status/receivers", receivers && receivers.tBodies[0]);
    const workers = document.querySelector("table.workers");
    swap("status/workers", workers && workers.tBodies[0]);
  }, 5000);

  if (!window.EventSource) { setLive("offline", "no live updates in this browser"); return; }
  const events = new EventSource("events");
  events.addEventListener("open", function () { setLive("live", "live"); });
  // EventSource reconnects by itself; say so meanwhile.
  events.addEventListener("error", function () { setLive("offline", "reconnecting…"); });
  events.addEventListener("snapshot", function (msg) {
    setLive("live", "live");
    applySnapshot(JSON.parse(msg.data));
  });
})();
