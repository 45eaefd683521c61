/* autocanary dashboard: the page's state, the rollout list and the page's flow (plain
 * JavaScript, no build step).
 *
 * Asks for the API's key (kept by dashboard_key.js in this tab, never in a URL), reads the
 * operator API with it in the x-functions-key header (a refused key asks again), lists the
 * rollouts and the ignored model events, picks the
 * rollout to show (#/<endpoint>/<id>), and reloads while it is active. Every value from the
 * API is put in the page as text, never as markup. The other scripts, loaded before this one:
 * dashboard_charts.js draws the charts (uPlot, vendored beside this file),
 * dashboard_actions.js the operator actions, dashboard_dom.js holds the helpers the list and
 * the detail view share, and dashboard_detail.js draws the rollout shown. For tests and tools
 * the state is kept in window.autocanaryDashboard: {state, charts (the uPlot objects),
 * rollout, series, list, ignored, errors, actionNotice (what the last action did)}.
 */
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var keys = window.autocanaryKey;
  var urlHadKey = keys.dropFromUrl();
  var REFRESH_S = params.has("refresh") ? Number(params.get("refresh")) : 30;
  // the API lives beside the page: /api/dashboard -> /api/
  var BASE = window.location.pathname.replace(/\/dashboard\/?$/, "/");
  var TERMINAL = ["Succeeded", "RolledBack", "Failed", "Superseded", "Aborted"];
  var charts = window.autocanaryCharts;
  var detailView = window.autocanaryDetail;
  var dom = window.autocanaryDom;
  var el = dom.el, clear = dom.clear, enc = dom.enc, hhmm = dom.hhmm, modelOf = dom.modelOf;
  var phaseBadge = dom.phaseBadge;

  var dash = {
    state: "loading", charts: {}, rollout: null, series: null, list: [], ignored: [], errors: [],
    endpoint: null, rolloutId: null, actionNotice: null
  };
  window.autocanaryDashboard = dash;
  var refreshTimer = null;

  // ------------------------------------------------------------------ helpers
  function setStatus(text, isError) {
    var status = document.getElementById("status");
    status.textContent = text;
    status.className = isError ? "status error" : "status";
  }

  function setState(state) {
    dash.state = state;
    document.body.setAttribute("data-state", state);
  }

  function getJSON(path) {
    var headers = { Accept: "application/json" };
    var key = keys.get();
    if (key) { headers["x-functions-key"] = key; }
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

  function loadIgnored(stale) {
    return getJSON("events?ignored=true&limit=10").then(function (page) {
      if (stale()) { return; }
      dash.ignored = page.events || [];
      renderIgnored(dash.ignored, null);
    }, function (err) { if (!stale()) { renderIgnored([], err.message); } });
  }

  function sortList(items) {
    return items.slice().sort(function (a, b) {
      var activeA = TERMINAL.indexOf(a.phase) < 0, activeB = TERMINAL.indexOf(b.phase) < 0;
      if (activeA !== activeB) { return activeA ? -1 : 1; }
      return String(b.updated_at || "").localeCompare(String(a.updated_at || ""));
    });
  }

  // ------------------------------------------------------------------ detail
  function renderDetail(doc, series) {
    var r = doc.rollout;
    dash.charts = detailView.render(document.getElementById("detail"), doc, series, {
      base: BASE, key: keys.get(), notice: dash.actionNotice, charts: dash.charts,
      onAction: function (reply, text) {
        dash.actionNotice = text;
        var next = reply && reply.rollout && reply.rollout.id;
        if (next && next !== r.id) {
          // a retry (or a start) made a new rollout: show that one (hashchange loads it)
          window.location.hash = "#/" + enc(r.endpoint) + "/" + enc(next);
        } else {
          load();
        }
      }
    });
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

  // the key form instead of the rollouts (no key yet, a refused key, a forgotten one)
  function signIn(message) {
    scheduleRefresh(false);
    document.getElementById("sign-in").hidden = false;
    document.getElementById("forget-key").hidden = true;
    if (message) { document.getElementById("key-message").textContent = message; }
    setStatus("API key needed");
    setState("key");
    document.getElementById("api-key").focus();
  }

  function useKey(event) {
    event.preventDefault();
    var input = document.getElementById("api-key");
    var key = input.value.trim();
    if (!key) { return; }
    keys.set(key);
    input.value = "";
    document.getElementById("sign-in").hidden = true;
    document.getElementById("forget-key").hidden = false;
    load();
  }

  // nothing read with a key stays in the page once the key is gone
  function clearShown() {
    dash.list = []; dash.rollout = null; dash.series = null; dash.ignored = [];
    clear(document.querySelector("#rollouts tbody"));
    clear(document.getElementById("detail"));
    clear(document.getElementById("ignored"));
  }

  function forgetKey() {
    keys.forget();
    clearShown();
    signIn("The key is forgotten in this tab. Enter a key to open the rollouts again.");
  }

  function fail(err) {
    if (err && err.status === 401) {
      keys.forget();
      clearShown();
      signIn("The API refused the key: " + err.message);
      return;
    }
    dash.errors.push(String(err && err.message || err));
    setStatus(String(err && err.message || err), true);
    setState("error");
  }

  function loadDetail(endpoint, id, stale) {
    var path = "rollouts/" + enc(endpoint) + (id ? "/history/" + enc(id) : "");
    return getJSON(path).then(function (doc) {
      var r = doc.rollout;
      var seriesPath = "rollouts/" + enc(endpoint) + "/history/" + enc(r.id) + "/series";
      // without its series the rollout is still shown, with the reason the charts are missing
      return getJSON(seriesPath).then(function (series) { return [doc, series]; },
        function (err) { return [doc, { minutes: [], traffic: [], phases: [], error: err.message }]; });
    }).then(function (both) {
      if (stale()) { throw STALE; }
      dash.rollout = both[0];
      dash.series = both[1];
      dash.rolloutId = both[0].rollout.id;
      renderDetail(both[0], both[1]);
      return both[0].rollout;
    });
  }

  // a load whose key was forgotten or replaced while it ran shows nothing and forgets nothing
  var STALE = { stale: true };

  function load() {
    if (!keys.get()) { signIn(null); return Promise.resolve(null); }
    var used = keys.get();
    var stale = function () { return keys.get() !== used; };
    document.getElementById("forget-key").hidden = false;
    setState("loading");
    setStatus("loading...");
    var wanted = parseHash();
    return getJSON("rollouts?limit=100").then(function (page) {
      if (stale()) { throw STALE; }
      dash.list = sortList(page.rollouts || []);
      var target = wanted.endpoint ? wanted : (dash.list[0] ?
        { endpoint: dash.list[0].endpoint, id: dash.list[0].id } : null);
      dash.endpoint = target ? target.endpoint : null;
      dash.rolloutId = target ? target.id : null;
      renderList(dash.list);
      var ignored = loadIgnored(stale);
      if (!target) { return ignored.then(function () { return null; }); }
      return Promise.all([loadDetail(target.endpoint, target.id, stale), ignored])
        .then(function (both) { return both[0]; });
    }).then(function (rollout) {
      if (stale()) { throw STALE; }
      renderList(dash.list);
      setStatus("updated " + new Date().toISOString().slice(11, 19) + " UTC");
      setState("ready");
      scheduleRefresh(rollout && TERMINAL.indexOf(rollout.phase) < 0);
    }).catch(function (err) {
      if (err === STALE || stale()) { return; }
      fail(err);
    });
  }

  var resizeTimer = null;

  document.addEventListener("DOMContentLoaded", function () {
    window.addEventListener("resize", function () {
      if (resizeTimer) { window.clearTimeout(resizeTimer); }
      resizeTimer = window.setTimeout(function () { charts.fit(dash.charts); }, 150);
    });
    document.getElementById("refresh").addEventListener("click", load);
    document.getElementById("key-form").addEventListener("submit", useKey);
    document.getElementById("forget-key").addEventListener("click", forgetKey);
    window.addEventListener("hashchange", load);
    if (urlHadKey && !keys.get()) {
      signIn("This link carried the API key in its URL (?code=), where access logs and the " +
        "browser's history keep it: it was not used, and it is gone from the address bar. " +
        "Enter the key here instead.");
      return;
    }
    load();
  });
}());
