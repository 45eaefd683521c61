/* autocanary dashboard: lists rollouts and shows one (plain JavaScript, no build step).
 *
 * Reads the operator API with the function key the page was opened with (?code=KEY), sent as
 * the x-functions-key header. Every value from the API is put in the page as text, never as
 * markup. Charts are drawn by dashboard_charts.js (uPlot, vendored beside this file), the
 * operator actions by dashboard_actions.js. For tests and tools the state is kept in
 * window.autocanaryDashboard: {state, charts (the uPlot objects), rollout, series, list,
 * ignored, errors, actionNotice (what the last action did)}.
 */
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var KEY = params.get("code") || "";
  var REFRESH_S = params.has("refresh") ? Number(params.get("refresh")) : 30;
  // the API lives beside the page: /api/dashboard -> /api/
  var BASE = window.location.pathname.replace(/\/dashboard\/?$/, "/");
  var TERMINAL = ["Succeeded", "RolledBack", "Failed", "Superseded", "Aborted"];
  var charts = window.autocanaryCharts;
  var actions = window.autocanaryActions;
  var PHASE_COLORS = charts.PHASE_COLORS;

  var dash = {
    state: "loading", charts: {}, rollout: null, series: null, list: [], ignored: [], errors: [],
    endpoint: null, rolloutId: null, actionNotice: null
  };
  window.autocanaryDashboard = dash;
  var refreshTimer = null;

  // ------------------------------------------------------------------ helpers
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) { return; }
      if (name === "text") { node.textContent = String(value); }
      else if (name === "class") { node.className = value; }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function setStatus(text, isError) {
    var status = document.getElementById("status");
    status.textContent = text;
    status.className = isError ? "status error" : "status";
  }

  function setState(state) {
    dash.state = state;
    document.body.setAttribute("data-state", state);
  }

  function enc(part) { return encodeURIComponent(part); }

  function getJSON(path) {
    var headers = { Accept: "application/json" };
    if (KEY) { headers["x-functions-key"] = KEY; }
    return fetch(BASE + path, { headers: headers, cache: "no-store", credentials: "omit" })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          if (!resp.ok) {
            var err = (body && body.error) || {};
            var message = (err.message || ("HTTP " + resp.status)) +
              (err.hint ? " - " + err.hint : "");
            var failure = new Error(message);
            failure.status = resp.status;
            throw failure;
          }
          return body;
        });
      });
  }

  function seconds(iso) { return iso ? Date.parse(iso) / 1000 : null; }

  function hhmm(iso) {
    if (!iso) { return "-"; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso); }
    return d.toISOString().slice(11, 16) + " UTC";
  }

  function when(iso) {
    if (!iso) { return "-"; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso); }
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function duration(s) {
    if (s === null || s === undefined || isNaN(s)) { return "-"; }
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) { return h + "h " + m + "m"; }
    if (m) { return m + "m " + r + "s"; }
    return r + "s";
  }

  function num(value, unit) {
    if (value === null || value === undefined || isNaN(value)) { return "-"; }
    var digits = unit === "%" ? 2 : (Math.abs(value) >= 100 ? 0 : 1);
    return Number(value).toFixed(digits) + (unit ? " " + unit : "");
  }

  function split(percents) {
    if (!percents) { return "-"; }
    var names = Object.keys(percents);
    if (!names.length) { return "none"; }
    return names.sort().map(function (n) { return n + " " + percents[n] + " %"; }).join(", ");
  }

  // "fraud:7" (a view has model and version as strings; an older document has a model object)
  function modelOf(r) {
    var m = r.model;
    if (m && typeof m === "object") { return m.name + ":" + (r.version || m.version); }
    return m + ":" + r.version;
  }

  function phaseBadge(phase, paused) {
    var badge = el("span", { class: "badge", text: phase || "?" });
    badge.style.background = PHASE_COLORS[phase] || "#5f6368";
    var parts = [badge];
    if (paused) { parts.push(el("span", { class: "badge paused", text: "paused" })); }
    return el("span", { class: "badges" }, parts);
  }

  // ------------------------------------------------------------------ list
  function renderList(items) {
    var body = document.querySelector("#rollouts tbody");
    clear(body);
    document.getElementById("list-empty").hidden = items.length > 0;
    items.forEach(function (r) {
      var href = "#/" + enc(r.endpoint) + "/" + enc(r.id);
      var selected = r.endpoint === dash.endpoint &&
        (dash.rolloutId === null || dash.rolloutId === r.id);
      var row = el("tr", { class: selected ? "selected" : null, "data-rollout": r.id }, [
        el("td", {}, [el("a", { href: href, text: r.endpoint })]),
        el("td", { text: modelOf(r) }),
        el("td", {}, [phaseBadge(r.phase, r.paused)])
      ]);
      body.appendChild(row);
      if (r.cause) {
        body.appendChild(el("tr", { class: "cause-row" }, [
          el("td", { colspan: "3", class: "muted", text: r.cause })
        ]));
      }
    });
  }

  function renderIgnored(events, error) {
    var box = document.getElementById("ignored");
    clear(box);
    if (error) {
      box.appendChild(el("p", { class: "muted", text: "Could not read them: " + error }));
      return;
    }
    if (!events.length) {
      box.appendChild(el("p", { class: "muted", text: "None: every model event matched a rule." }));
      return;
    }
    box.appendChild(el("ul", { class: "ignored" }, events.map(function (e) {
      var m = e.model || {};
      return el("li", { "data-event": e.event_id }, [
        el("strong", { text: (m.name || "?") + ":" + (m.version || "?") }),
        el("code", { text: e.reason || "" }),
        el("span", { class: "muted", text: hhmm(e.at) }),
        el("div", { text: e.detail || "" }),
        e.hint ? el("div", { class: "hint", text: e.hint }) : null
      ]);
    })));
  }

  function loadIgnored() {
    return getJSON("events?ignored=true&limit=10").then(function (page) {
      dash.ignored = page.events || [];
      renderIgnored(dash.ignored, null);
    }, function (err) { renderIgnored([], err.message); });
  }

  function sortList(items) {
    return items.slice().sort(function (a, b) {
      var activeA = TERMINAL.indexOf(a.phase) < 0, activeB = TERMINAL.indexOf(b.phase) < 0;
      if (activeA !== activeB) { return activeA ? -1 : 1; }
      return String(b.updated_at || "").localeCompare(String(a.updated_at || ""));
    });
  }

  // ------------------------------------------------------------------ detail
  function section(title, children, cls) {
    return el("section", { class: "card " + (cls || "") }, [el("h3", { text: title })]
      .concat(children));
  }

  function whyBlock(why) {
    why = why || {};
    var rows = [];
    function row(label, value) {
      rows.push(el("dt", { text: label }), el("dd", { text: value }));
    }
    function side(s) {
      if (!s) { return "-"; }
      var text = num(s.value, s.unit);
      if (s.requests !== undefined && s.requests !== null) {
        text += " (" + (s.errors !== undefined ? s.errors + "/" : "") + s.requests + " requests)";
      }
      return text;
    }
    row("reason", why.reason || "-");
    if (why.metric) { row("metric", why.metric); }
    if (why.canary) { row("canary", side(why.canary)); }
    if (why.baseline) { row("baseline", side(why.baseline)); }
    if (why.threshold && why.threshold.value !== null && why.threshold.value !== undefined) {
      row("threshold", num(why.threshold.value, why.threshold.unit) +
        (why.threshold.kind ? " (" + why.threshold.kind + ")" : ""));
    }
    if (why.since) { row("since", when(why.since)); }
    if (why.minutes_used && why.minutes_used.length) {
      row("minutes judged", why.minutes_used.length + " (" + hhmm(why.minutes_used[0]) + " - " +
        hhmm(why.minutes_used[why.minutes_used.length - 1]) + ")");
    }
    if (why.actor) { row("decided by", why.actor + (why.at ? " at " + when(why.at) : "")); }
    if (why.message) { row("message", why.message); }
    return el("dl", { class: "why" }, rows);
  }

  function stageBlock(r) {
    var t = r.stage_timing || {};
    var parts = [];
    var live = typeof t.index === "number" && t.index >= 0 && /^stage /.test(t.name || "");
    if (live) {
      parts.push(t.name + (t.count ? " of " + t.count : "") +
        (t.weight !== undefined && t.weight !== null ? " (" + t.weight + " %)" : ""));
    } else if (t.name) {
      parts.push(t.name);  // "shadow", or the phase once the stages are over
    }
    if (t.time_in_stage_s !== null && t.time_in_stage_s !== undefined) {
      parts.push(duration(t.time_in_stage_s) + " in stage");
    }
    if (t.time_left_s !== null && t.time_left_s !== undefined) {
      parts.push(duration(t.time_left_s) + " left");
    }
    if (t.deadline) { parts.push("deadline " + hhmm(t.deadline)); }
    return el("p", { class: "stage", text: parts.length ? parts.join(" · ") : "-" });
  }

  function trafficBlock(r) {
    var tr = r.traffic || {};
    var rows = [
      el("tr", {}, [el("th", { text: "" }), el("th", { text: "traffic" }),
        el("th", { text: "mirror" })]),
      el("tr", {}, [el("th", { text: "wanted" }), el("td", { text: split(tr.wanted) }),
        el("td", { text: split(tr.wanted_mirror) })]),
      el("tr", {}, [el("th", { text: "live" }), el("td", { text: split(tr.live) }),
        el("td", { text: split(tr.live_mirror) })])
    ];
    var sync = tr.in_sync === true ? "live matches wanted" :
      tr.in_sync === false ? "live differs from wanted" : "live split not read";
    return el("div", {}, [el("table", { class: "traffic" }, rows),
      el("p", { class: tr.in_sync === false ? "warn" : "muted", text: sync })]);
  }

  function readingsBlock(readings) {
    if (!readings || !readings.length) { return el("p", { class: "muted", text: "No reading." }); }
    return el("div", { class: "readings" }, readings.map(function (rd) {
      function bar(kind, progress) {
        var p = Math.max(0, Math.min(1, Number(progress) || 0));
        var fill = el("span", { class: "fill " + kind });
        fill.style.width = (p * 100).toFixed(0) + "%";
        return el("span", { class: "bar", title: kind + " " + (p * 100).toFixed(0) + " %" },
          [fill]);
      }
      return el("div", { class: "reading", "data-metric": rd.metric }, [
        el("span", { class: "metric", text: rd.metric }),
        el("span", { class: "values", text: "canary " + num(rd.canary, rd.unit) +
          " / baseline " + num(rd.baseline, rd.unit) }),
        el("span", { class: "bars" }, [
          el("span", { class: "bar-label", text: "to rollback" }),
          bar("rollback", rd.rollback_progress),
          el("span", { class: "bar-label", text: "to clear" }),
          bar("clear", rd.clear_progress)
        ]),
        el("span", { class: "state state-" + rd.state, text: rd.state })
      ]);
    }));
  }

  function phaseStrip(phases, end) {
    if (!phases || !phases.length) { return el("p", { class: "muted", text: "No phases." }); }
    var first = seconds(phases[0].t);
    var last = Math.max(seconds(end) || first, seconds(phases[phases.length - 1].t));
    var total = Math.max(1, last - first);
    var strip = el("div", { class: "strip" });
    phases.forEach(function (p, i) {
      var start = seconds(p.t);
      var stop = i + 1 < phases.length ? seconds(phases[i + 1].t) : last;
      var label = p.phase + (p.phase === "Canary" ? " " + (p.stage + 1) : "");
      var seg = el("span", { class: "segment", title: label + " from " + hhmm(p.t) + " (" +
        p.reason + ")", text: label });
      seg.style.flexGrow = String(Math.max(stop - start, total / 50));
      seg.style.background = PHASE_COLORS[p.phase] || "#5f6368";
      strip.appendChild(seg);
    });
    return strip;
  }

  function decisionsBlock(decisions) {
    if (!decisions || !decisions.length) { return el("p", { class: "muted", text: "None." }); }
    var list = el("ol", { class: "decisions" });
    decisions.forEach(function (d) {
      var change = d.phase_from === d.phase_to ? d.phase_to : d.phase_from + " → " + d.phase_to;
      list.appendChild(el("li", { "data-seq": d.seq }, [
        el("time", { datetime: d.at, text: hhmm(d.at) }),
        el("span", { class: "change", text: change }),
        el("code", { text: d.reason }),
        el("span", { class: "message", text: d.message || "" }),
        el("span", { class: "actor muted", text: d.actor ? "by " + d.actor : "" })
      ]));
    });
    return list;
  }

  function historyBlock(endpoint, history) {
    if (!history || !history.length) { return el("p", { class: "muted", text: "None." }); }
    var rows = history.map(function (h) {
      return el("tr", {}, [
        el("td", {}, [el("a", { href: "#/" + enc(endpoint) + "/" + enc(h.id),
          text: modelOf(h) })]),
        el("td", {}, [phaseBadge(h.phase, h.paused)]),
        el("td", { text: when(h.created_at) }),
        el("td", { class: "muted", text: h.cause || h.message || "" })
      ]);
    });
    return el("table", { class: "history" }, rows);
  }


  function renderDetail(doc, series) {
    var r = doc.rollout;
    var detail = document.getElementById("detail");
    clear(detail);
    var title = el("h2", {}, [
      el("span", { text: r.endpoint + " — " + modelOf(r) + " " }),
      phaseBadge(r.phase, r.paused)
    ]);
    var meta = el("p", { class: "muted", text: "rollout " + r.id + " · canary " +
      (r.canary || "-") + " · baseline " + (r.baseline || "-") + " · started " +
      when(r.created_at) + (r.ended_at ? " · ended " + when(r.ended_at) : "") });
    detail.appendChild(title);
    detail.appendChild(meta);
    var cause = el("p", { class: "cause", id: "cause", text: r.cause || r.message || "" });
    cause.style.borderLeftColor = PHASE_COLORS[r.phase] || "#5f6368";
    detail.appendChild(cause);
    if (r.paused && r.pause_reason) {
      detail.appendChild(el("p", { class: "warn", text: "Paused: " + r.pause_reason }));
    }
    if (doc.waiting && doc.waiting.model) {
      detail.appendChild(el("p", { class: "muted", text: "Waiting next: " +
        doc.waiting.model.name + ":" + doc.waiting.model.version }));
    }
    var grid = el("div", { class: "grid" }, [
      section("Why", [whyBlock(r.why)], "why-card"),
      section("Stage", [stageBlock(r), trafficBlock(r)]),
      section("Judge's latest reading", [readingsBlock(r.readings)])
    ]);
    detail.appendChild(grid);
    detail.appendChild(section("Actions", [actions.block(doc, {
      el: el, base: BASE, key: KEY, notice: dash.actionNotice,
      onDone: function (reply, text) {
        dash.actionNotice = text;
        var next = reply && reply.rollout && reply.rollout.id;
        if (next && next !== r.id) {
          // a retry (or a start) made a new rollout: show that one (hashchange loads it)
          window.location.hash = "#/" + enc(r.endpoint) + "/" + enc(next);
        } else {
          load();
        }
      }
    })], "actions-card"));
    detail.appendChild(section("Timeline", [
      phaseStrip(series && series.phases, r.ended_at || r.updated_at)
    ], "timeline"));
    var holder = el("div", { class: "charts" });
    detail.appendChild(section("Per minute", [holder], "charts-card"));
    if (series && series.error) {
      Object.keys(dash.charts).forEach(function (k) { dash.charts[k].destroy(); });
      dash.charts = {};
      holder.appendChild(el("p", { class: "warn", id: "series-error",
        text: "Could not read the per-minute series: " + series.error }));
    } else {
      dash.charts = charts.render(holder, series, dash.charts);
    }
    detail.appendChild(section("Decisions", [decisionsBlock(doc.decisions)]));
    detail.appendChild(section("History of " + r.endpoint, [historyBlock(r.endpoint, doc.history)]));
  }

  // ------------------------------------------------------------------ flow
  // #/<endpoint>/<rollout id> after the URL, else ?endpoint=<endpoint> (the notices' links):
  // that endpoint's current (or latest) rollout
  function parseHash() {
    var parts = window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
    if (!parts.length && params.get("endpoint")) {
      return { endpoint: params.get("endpoint"), id: null };
    }
    return { endpoint: parts[0] ? decodeURIComponent(parts[0]) : null,
      id: parts[1] ? decodeURIComponent(parts[1]) : null };
  }

  function scheduleRefresh(active) {
    if (refreshTimer) { window.clearTimeout(refreshTimer); refreshTimer = null; }
    if (active && REFRESH_S > 0) {
      refreshTimer = window.setTimeout(load, REFRESH_S * 1000);
    }
  }

  function fail(err) {
    dash.errors.push(String(err && err.message || err));
    setStatus(String(err && err.message || err), true);
    setState("error");
  }

  function loadDetail(endpoint, id) {
    var path = "rollouts/" + enc(endpoint) + (id ? "/history/" + enc(id) : "");
    return getJSON(path).then(function (doc) {
      var r = doc.rollout;
      var seriesPath = "rollouts/" + enc(endpoint) + "/history/" + enc(r.id) + "/series";
      // without its series the rollout is still shown, with the reason the charts are missing
      return getJSON(seriesPath).then(function (series) { return [doc, series]; },
        function (err) { return [doc, { minutes: [], traffic: [], phases: [], error: err.message }]; });
    }).then(function (both) {
      dash.rollout = both[0];
      dash.series = both[1];
      dash.rolloutId = both[0].rollout.id;
      renderDetail(both[0], both[1]);
      return both[0].rollout;
    });
  }

  function load() {
    setState("loading");
    setStatus("loading...");
    var wanted = parseHash();
    return getJSON("rollouts?limit=100").then(function (page) {
      dash.list = sortList(page.rollouts || []);
      var target = wanted.endpoint ? wanted : (dash.list[0] ?
        { endpoint: dash.list[0].endpoint, id: dash.list[0].id } : null);
      dash.endpoint = target ? target.endpoint : null;
      dash.rolloutId = target ? target.id : null;
      renderList(dash.list);
      var ignored = loadIgnored();
      if (!target) { return ignored.then(function () { return null; }); }
      return Promise.all([loadDetail(target.endpoint, target.id), ignored])
        .then(function (both) { return both[0]; });
    }).then(function (rollout) {
      renderList(dash.list);
      setStatus("updated " + new Date().toISOString().slice(11, 19) + " UTC");
      setState("ready");
      scheduleRefresh(rollout && TERMINAL.indexOf(rollout.phase) < 0);
    }).catch(fail);
  }

  var resizeTimer = null;

  document.addEventListener("DOMContentLoaded", function () {
    window.addEventListener("resize", function () {
      if (resizeTimer) { window.clearTimeout(resizeTimer); }
      resizeTimer = window.setTimeout(function () { charts.fit(dash.charts); }, 150);
    });
    document.getElementById("refresh").addEventListener("click", load);
    window.addEventListener("hashchange", load);
    load();
  });
}());
