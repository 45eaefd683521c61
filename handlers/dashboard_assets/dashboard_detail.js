/* autocanary dashboard: the detail view of one rollout (plain JavaScript).
 *
 * window.autocanaryDetail.render(holder, doc, series, ctx) replaces what holder shows with the
 * rollout document doc (GET /api/rollouts/{endpoint} or .../history/{id}) and its per-minute
 * series (GET .../history/{id}/series; {error} when it could not be read): title and cause,
 * why the rollout is where it is, its stage and traffic split, the judge's latest reading,
 * the operator actions (dashboard_actions.js), the phase timeline, the charts
 * (dashboard_charts.js), the decisions and the endpoint's history. ctx: {base, key (for the
 * actions' requests), notice (what the last action did), charts (the uPlot objects drawn
 * before: destroyed), onAction(reply, text) (an action went through)}. It returns the charts
 * it drew by name ({} without a series). Every value is put in the page as text, never as
 * markup.
 */
(function () {
  "use strict";

  var charts = window.autocanaryCharts;
  var actions = window.autocanaryActions;
  var dom = window.autocanaryDom;
  var el = dom.el, enc = dom.enc, hhmm = dom.hhmm, modelOf = dom.modelOf;
  var seconds = dom.seconds, num = dom.num;
  var phaseColor = dom.phaseColor, phaseBadge = dom.phaseBadge;

  // ------------------------------------------------------------------ formatting
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

  function split(percents) {
    if (!percents) { return "-"; }
    var names = Object.keys(percents);
    if (!names.length) { return "none"; }
    return names.sort().map(function (n) { return n + " " + percents[n] + " %"; }).join(", ");
  }

  // ------------------------------------------------------------------ sections
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
      seg.style.background = phaseColor(p.phase);
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

  // ------------------------------------------------------------------ the view
  function render(holder, doc, series, ctx) {
    var r = doc.rollout;
    var drawn;
    dom.clear(holder);
    var title = el("h2", {}, [
      el("span", { text: r.endpoint + " — " + modelOf(r) + " " }),
      phaseBadge(r.phase, r.paused)
    ]);
    var meta = el("p", { class: "muted", text: "rollout " + r.id + " · canary " +
      (r.canary || "-") + " · baseline " + (r.baseline || "-") + " · started " +
      when(r.created_at) + (r.ended_at ? " · ended " + when(r.ended_at) : "") });
    holder.appendChild(title);
    holder.appendChild(meta);
    var cause = el("p", { class: "cause", id: "cause", text: r.cause || r.message || "" });
    cause.style.borderLeftColor = phaseColor(r.phase);
    holder.appendChild(cause);
    if (r.paused && r.pause_reason) {
      holder.appendChild(el("p", { class: "warn", text: "Paused: " + r.pause_reason }));
    }
    if (doc.waiting && doc.waiting.model) {
      holder.appendChild(el("p", { class: "muted", text: "Waiting next: " +
        doc.waiting.model.name + ":" + doc.waiting.model.version }));
    }
    var grid = el("div", { class: "grid" }, [
      section("Why", [whyBlock(r.why)], "why-card"),
      section("Stage", [stageBlock(r), trafficBlock(r)]),
      section("Judge's latest reading", [readingsBlock(r.readings)])
    ]);
    holder.appendChild(grid);
    holder.appendChild(section("Actions", [actions.block(doc, {
      el: el, base: ctx.base, key: ctx.key, notice: ctx.notice, onDone: ctx.onAction
    })], "actions-card"));
    holder.appendChild(section("Timeline", [
      phaseStrip(series && series.phases, r.ended_at || r.updated_at)
    ], "timeline"));
    var box = el("div", { class: "charts" });
    holder.appendChild(section("Per minute", [box], "charts-card"));
    var previous = ctx.charts || {};
    if (series && series.error) {
      Object.keys(previous).forEach(function (k) { previous[k].destroy(); });
      drawn = {};
      box.appendChild(el("p", { class: "warn", id: "series-error",
        text: "Could not read the per-minute series: " + series.error }));
    } else {
      drawn = charts.render(box, series, previous);
    }
    holder.appendChild(section("Decisions", [decisionsBlock(doc.decisions)]));
    holder.appendChild(section("History of " + r.endpoint, [historyBlock(r.endpoint, doc.history)]));
    return drawn;
  }

  window.autocanaryDetail = { render: render };
}());
