// The status page's live view. Inlined into the page by status_page.rs.
//
// Counts and rates come from `events` (Server-Sent Events, about every 500 ms). The entry
// views are rendered by the server (view_html.rs): this script only asks for the rows of the
// view shown (status/queues/NAME/VIEW?after=&signal=&sender=&id=, an HTML fragment) and swaps
// them in: when a count changes, every few seconds whatever the counts say (entries can die
// again, leases move, with every count as it was), and after every action. All URLs are
// relative, so the page also works behind a reverse proxy under a path prefix.
"use strict";
(function () {
  const last = new Map(); // queue -> counts last shown
  const loading = new Map(); // "queue/view" -> a refresh is running
  const again = new Set(); // "queue/view" -> refresh once more when it ends
  const cursors = new Map(); // "queue/view" -> the page shown (its `after`), "" for the first
  const filters = new Map(); // queue -> URLSearchParams of the filter
  // The views each count is about: the scheduled count holds delayed sends and retries.
  const VIEWS_OF_COUNT = {
    pending: ["pending"], scheduled: ["scheduled", "retries"], in_flight: ["in_flight"], dead: ["dead"],
  };

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
      // No counts before (the engine did not answer when the page was made): fill every view.
      if (!before) { views(name).forEach(function (v) { refresh(name, v); }); return; }
      // The view shown, and every view whose count moved, so that a tab opened later is
      // already current.
      const stale = new Set();
      Object.keys(VIEWS_OF_COUNT).forEach(function (k) {
        if (before[k] !== queue.counts[k]) {
          stale.add(shown(name));
          VIEWS_OF_COUNT[k].forEach(function (v) { stale.add(v); });
        }
      });
      stale.forEach(function (v) { refresh(name, v); });
    });
  }

  function views(queue) {
    return Array.from(q("div.view" + attr("data-queue", queue))).map(function (d) { return d.dataset.view; });
  }

  function shown(queue) {
    const div = document.querySelector("div.view" + attr("data-queue", queue) + ":not([hidden])");
    return div ? div.dataset.view : "pending";
  }

  function table(queue, view) {
    return document.querySelector("table" + attr("data-queue", queue) + attr("data-list", view));
  }

  // One refresh per view at a time; a change during a refresh asks for one more after it.
  function refresh(queue, view) {
    const key = queue + "/" + view;
    if (loading.get(key)) { again.add(key); return; }
    loading.set(key, true);
    const params = new URLSearchParams(filters.get(queue) || "");
    const after = cursors.get(key);
    if (after) params.set("after", after);
    const query = params.toString();
    fetch("status/queues/" + encodeURIComponent(queue) + "/" + view + (query ? "?" + query : ""))
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (rows) {
        const t = table(queue, view);
        if (!t) return;
        const body = t.tBodies[0];
        // Unchanged rows are left alone, so a selection or a click in progress survives.
        if (body.dataset.html === rows) return;
        const selected = new Set(Array.from(body.querySelectorAll("input[data-select]:checked"))
          .map(function (c) { return c.value; }));
        // The server escaped every value it wrote into these rows.
        body.innerHTML = rows;
        body.dataset.html = rows;
        body.querySelectorAll("input[data-select]").forEach(function (c) {
          c.checked = selected.has(c.value);
        });
      })
      .catch(function () { /* the next round retries */ })
      .finally(function () {
        loading.set(key, false);
        if (again.delete(key)) refresh(queue, view);
      });
  }

  function token() {
    const input = document.getElementById("token-input");
    return input ? input.value : "";
  }

  // Every action goes through here: the token from this tab, the answer shown, the view
  // (and the detail, if open) read again at once rather than at the next count change.
  function post(queue, url, body, out, describe) {
    fetch(url, {
      method: "POST",
      headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
      body: body === null ? undefined : JSON.stringify(body),
    })
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (out) out.textContent = answer.error ? answer.error : describe(answer);
        views(queue).forEach(function (v) { refresh(queue, v); });
        const detail = document.querySelector("div.detail" + attr("data-queue", queue));
        if (detail && !detail.hidden && detail.dataset.key) openDetail(queue, detail.dataset.key);
      })
      .catch(function (e) { if (out) out.textContent = String(e); });
  }

  function actOn(queue, view, action, keys, out) {
    if (!keys.length) { if (out) out.textContent = "select entries first"; return; }
    if (action === "delete" && !confirm("Delete " + keys.length + " entr" + (keys.length === 1 ? "y" : "ies") + " of queue " + queue + "?")) return;
    const base = "api/queues/" + encodeURIComponent(queue) + "/";
    const url = action === "replay" ? base + "dead/replay" : base + view + "/" + action;
    post(queue, url, { keys: keys }, out, function (a) {
      return action === "replay" ? a.replayed + " replayed" :
        action === "delete" ? a.deleted + " deleted" : a.moved + " moved to pending";
    });
  }

  function openDetail(queue, key) {
    const detail = document.querySelector("div.detail" + attr("data-queue", queue));
    if (!detail) return;
    detail.dataset.key = key;
    fetch("status/queues/" + encodeURIComponent(queue) + "/entry?key=" + encodeURIComponent(key))
      .then(function (r) {
        return r.ok ? r.text() : r.json().then(function (b) { throw new Error(b.error || "HTTP " + r.status); });
      })
      .then(function (html) { detail.innerHTML = html; detail.hidden = false; })
      .catch(function (e) {
        detail.hidden = false;
        detail.textContent = String(e.message || e);
        const close = document.createElement("button");
        close.type = "button"; close.dataset.close = ""; close.textContent = "close";
        detail.appendChild(close);
      });
  }

  // The token stays in this tab (sessionStorage), never in the page.
  const tokenInput = document.getElementById("token-input");
  if (tokenInput) {
    tokenInput.value = sessionStorage.getItem("signalqueue-admin-token") || "";
    tokenInput.addEventListener("change", function () {
      sessionStorage.setItem("signalqueue-admin-token", tokenInput.value);
    });
  }

  // One listener for every button and link of the views, including rows swapped in later.
  document.addEventListener("click", function (ev) {
    const el = ev.target.closest("button, a, input[data-select-all]");
    if (!el) return;
    const section = el.closest("section.queue");
    if (!section) return;
    const queue = section.dataset.queue;
    if (el.matches("nav.views button[data-view]")) {
      section.querySelectorAll("nav.views button").forEach(function (b) {
        b.setAttribute("aria-selected", String(b === el));
      });
      section.querySelectorAll("div.view").forEach(function (d) { d.hidden = d.dataset.view !== el.dataset.view; });
      refresh(queue, el.dataset.view);
    } else if (el.matches("a[data-after]")) {
      ev.preventDefault();
      const view = el.closest("div.view").dataset.view;
      cursors.set(queue + "/" + view, el.dataset.after);
      refresh(queue, view);
    } else if (el.matches("a[data-detail]")) {
      ev.preventDefault();
      openDetail(queue, el.dataset.detail);
    } else if (el.matches("button[data-close]")) {
      const detail = el.closest("div.detail");
      detail.hidden = true;
      delete detail.dataset.key;
    } else if (el.matches("input[data-select-all]")) {
      const view = el.closest("div.view");
      view.querySelectorAll("input[data-select]").forEach(function (c) { c.checked = el.checked; });
    } else if (el.matches("button[data-entry-action]")) {
      const inDetail = el.closest("div.detail");
      const out = inDetail ? inDetail.querySelector(".action-result") :
        el.closest("div.view").querySelector(".action-result");
      actOn(queue, el.dataset.view, el.dataset.entryAction, [el.dataset.key], out);
    } else if (el.matches("button[data-bulk]")) {
      const view = el.closest("div.view");
      const keys = Array.from(view.querySelectorAll("input[data-select]:checked")).map(function (c) { return c.value; });
      actOn(queue, view.dataset.view, el.dataset.bulk, keys, view.querySelector(".action-result"));
    } else if (el.matches("button[data-action]")) {
      const action = el.dataset.action;
      if (action === "purge" && !confirm("Remove every dead letter of queue " + queue + "?")) return;
      post(queue, "api/queues/" + encodeURIComponent(queue) + "/dead/" + action, null,
        el.closest("div.view").querySelector(".action-result"),
        function (a) { return action === "replay" ? a.replayed + " replayed" : a.purged + " purged"; });
    }
  });

  // The filter applies to every view of its queue, from their first pages.
  q("form.filter").forEach(function (form) {
    const queue = form.dataset.queue;
    function apply() {
      const params = new URLSearchParams();
      form.querySelectorAll("input[name]").forEach(function (i) {
        if (i.value.trim()) params.set(i.name, i.value.trim());
      });
      filters.set(queue, params.toString());
      views(queue).forEach(function (v) { cursors.delete(queue + "/" + v); refresh(queue, v); });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(); });
    form.addEventListener("reset", function () { setTimeout(apply, 0); });
  });

  // Rows as the server rendered them, so the first refresh swaps only what changed.
  q("table.entries").forEach(function (t) { t.tBodies[0].dataset.html = t.tBodies[0].innerHTML; });

  // Whatever the counts say, the view shown is read again every few seconds.
  setInterval(function () {
    q("section.queue").forEach(function (section) {
      refresh(section.dataset.queue, shown(section.dataset.queue));
    });
  }, 2000);

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
