/* autocanary dashboard: the per-minute charts of one rollout, drawn with uPlot.
 *
 * window.autocanaryCharts.render(holder, series, previous) draws the traffic split, the error
 * rate and the latency charts of a series document (GET .../history/{id}/series) into holder,
 * destroys the previous charts and returns the new ones by name ({traffic, errors, latency});
 * fit(charts) refits them to their holder's width. Needs dashboard_dom.js loaded first.
 */
(function () {
  "use strict";

  var dom = window.autocanaryDom;
  var seconds = dom.seconds, num = dom.num;
  var SIDE_COLORS = { canary: "#d93025", baseline: "#1a73e8", threshold: "#5f6368" };
  var DEPLOYMENT_COLORS = ["#1a73e8", "#d93025", "#188038", "#e37400", "#8e6bbf", "#12a4af"];

  var MINUTE_INCRS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 604800];

  function note(holder, text) {
    var p = document.createElement("p");
    p.className = "muted";
    p.textContent = text;
    holder.appendChild(p);
  }

  function widthOf(holder) { return Math.max(320, Math.floor(holder.clientWidth || 640) - 8); }

  function phaseMarkers(phases) {
    var marks = (phases || []).map(function (p) { return { x: seconds(p.t), phase: p.phase }; });
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          marks.forEach(function (m) {
            var x = Math.round(u.valToPos(m.x, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
            ctx.strokeStyle = dom.phaseColor(m.phase);
            ctx.lineWidth = 1;
            ctx.setLineDash([2, 3]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
  }

  // 24-hour UTC clock on the time axis, the date under the first tick of each day
  function utcTicks(u, splits) {
    var lastDay = null;
    return splits.map(function (v) {
      var iso = new Date(v * 1000).toISOString();
      var day = iso.slice(0, 10);
      var label = iso.slice(11, 16);
      if (day !== lastDay) { lastDay = day; return label + "\n" + day; }
      return label;
    });
  }

  function chartOptions(title, width, yLabel, series, phases, yRange) {
    return {
      title: title,
      width: width,
      height: 220,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      scales: { x: { time: true }, y: yRange ? { range: yRange } : { auto: true } },
      // ticks on whole minutes: the series are per minute
      axes: [{ values: utcTicks, incrs: MINUTE_INCRS }, { label: yLabel, size: 60 }],
      series: [{ label: "time (UTC)" }].concat(series),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      plugins: [phaseMarkers(phases)]
    };
  }

  function line(label, color, extra) {
    var s = { label: label, stroke: color, width: 2, spanGaps: false, points: { size: 4 },
      value: function (u, v) { return v === null || v === undefined ? "-" : v.toFixed(2); } };
    Object.keys(extra || {}).forEach(function (k) { s[k] = extra[k]; });
    return s;
  }

  function minuteValue(m, sideName, field) {
    var side = m[sideName];
    if (!side) { return null; }
    var v = side[field];
    return v === undefined ? null : v;
  }

  function makeChart(made, name, holder, title, yLabel, series, data, phases, yRange) {
    var box = document.createElement("div");
    box.className = "chart";
    box.setAttribute("data-chart", name);
    holder.appendChild(box);
    var options = chartOptions(title, widthOf(holder), yLabel, series, phases, yRange);
    made[name] = new uPlot(options, data, box);
  }

  function trafficChart(made, holder, series) {
    var points = series.traffic || [];
    if (!points.length) { return; }
    var deployments = [];
    points.forEach(function (p) {
      Object.keys(p.split || {}).concat(Object.keys(p.mirror || {})).forEach(function (d) {
        if (deployments.indexOf(d) < 0) { deployments.push(d); }
      });
    });
    deployments.sort();
    // a step per change, held until the last minute charted or now for an active rollout
    var xs = points.map(function (p) { return seconds(p.t); });
    var lastMinute = (series.minutes || []).length ?
      seconds(series.minutes[series.minutes.length - 1].t) : null;
    var end = Math.max(xs[xs.length - 1], lastMinute || 0);
    var rows = points.slice();
    if (end > xs[xs.length - 1]) { xs.push(end); rows.push(points[points.length - 1]); }
    var data = [xs];
    var lines = [];
    var stepped = uPlot.paths.stepped({ align: 1 });
    deployments.forEach(function (d, i) {
      var color = DEPLOYMENT_COLORS[i % DEPLOYMENT_COLORS.length];
      data.push(rows.map(function (p) { return (p.split || {})[d] || 0; }));
      lines.push(line(d + " (traffic %)", color, { paths: stepped, points: { show: false } }));
      var mirrored = rows.some(function (p) { return (p.mirror || {})[d]; });
      if (mirrored) {
        data.push(rows.map(function (p) { return (p.mirror || {})[d] || 0; }));
        lines.push(line(d + " (mirror %)", color,
          { paths: stepped, dash: [6, 4], width: 1.5, points: { show: false } }));
      }
    });
    makeChart(made, "traffic", holder, "Traffic split (%)", "%", lines, data, series.phases, [0, 100]);
  }

  function thresholdLine(label, value, xs) {
    return { s: line(label, SIDE_COLORS.threshold,
      { dash: [8, 4], width: 1.5, points: { show: false } }),
      d: xs.map(function () { return value; }) };
  }

  // one row per minute from the first to the last, so a minute with no reading is a gap in
  // the lines (null), not a straight line over it. A "minute" is the series' own step (the
  // local stack's metric minutes last seconds).
  function everyMinute(minutes) {
    var byX = {};
    minutes.forEach(function (m) { byX[seconds(m.t)] = m; });
    var xs = Object.keys(byX).map(Number).sort(function (a, b) { return a - b; });
    if (xs.length < 3) { return minutes; }
    var step = Infinity;
    for (var i = 1; i < xs.length; i++) { step = Math.min(step, xs[i] - xs[i - 1]); }
    var regular = step > 0 && xs.every(function (x) { return (x - xs[0]) % step === 0; });
    if (!regular || (xs[xs.length - 1] - xs[0]) / step > 2000) { return minutes; }
    var rows = [];
    for (var x = xs[0]; x <= xs[xs.length - 1]; x += step) {
      rows.push(byX[x] || { t: new Date(x * 1000).toISOString(), canary: null, baseline: null });
    }
    return rows;
  }

  function metricChart(made, holder, series, name, title, unit, fields, thresholdKeys) {
    var minutes = everyMinute(series.minutes || []);
    if (!minutes.length) { return; }
    var xs = minutes.map(function (m) { return seconds(m.t); });
    var data = [xs];
    var lines = [];
    fields.forEach(function (f) {
      ["canary", "baseline"].forEach(function (side) {
        data.push(minutes.map(function (m) { return minuteValue(m, side, f.field); }));
        lines.push(line(side + " " + f.label, SIDE_COLORS[side], f.extra || {}));
      });
    });
    thresholdKeys.forEach(function (key) {
      var value = (series.thresholds || {})[key];
      if (value === null || value === undefined || isNaN(value)) { return; }
      var th = thresholdLine(thresholdLabel(key) + " " + num(value, unit), value, xs);
      lines.push(th.s);
      data.push(th.d);
    });
    makeChart(made, name, holder, title, unit, lines, data, series.phases, null);
  }

  // "error_rate_rollback_pct" -> "rollback threshold", "guardrail_p95_ms" -> "p95 guardrail"
  var THRESHOLD_LABELS = {
    error_rate_rollback_pct: "rollback threshold",
    guardrail_error_rate_pct: "guardrail"
  };
  function thresholdLabel(key) {
    if (THRESHOLD_LABELS[key]) { return THRESHOLD_LABELS[key]; }
    var guard = /^guardrail_(p\d+)_ms$/.exec(key);
    if (guard) { return guard[1] + " guardrail"; }
    return key.replace(/_(pct|ms)$/, "").replace(/_/g, " ");
  }

  // the error-rate thresholds in percent, the absolute latency thresholds in ms
  function thresholdKeys(series, pattern) {
    return Object.keys(series.thresholds || {}).filter(function (k) { return pattern.test(k); })
      .sort();
  }

  function hasData(minutes, field) {
    return minutes.some(function (m) {
      return minuteValue(m, "canary", field) !== null || minuteValue(m, "baseline", field) !== null;
    });
  }

  // the tail latency the metrics have (Azure ML reports P50, P90 and P99), and the median
  function latencyFields(minutes) {
    var fields = [];
    var tail = ["p95_ms", "p90_ms", "p99_ms"].filter(function (f) { return hasData(minutes, f); });
    if (tail.length) { fields.push({ field: tail[0], label: tail[0].replace("_ms", "") }); }
    if (hasData(minutes, "p50_ms")) {
      fields.push({ field: "p50_ms", label: "p50", extra: { width: 1, dash: [2, 2] } });
    }
    return fields;
  }

  function render(holder, series, previous) {
    Object.keys(previous || {}).forEach(function (k) { previous[k].destroy(); });
    var made = {};
    if (!series || !(series.minutes || []).length && !(series.traffic || []).length) {
      note(holder, "No minutes recorded yet.");
      return made;
    }
    trafficChart(made, holder, series);
    metricChart(made, holder, series, "errors", "Error rate per minute (%)", "%",
      [{ field: "error_rate_pct", label: "error rate" }],
      thresholdKeys(series, /error_rate.*_pct$/));
    var latency = latencyFields(series.minutes || []);
    if (latency.length) {
      metricChart(made, holder, series, "latency", "Latency per minute (ms)", "ms", latency,
        thresholdKeys(series, /_ms$/));
    }
    return made;
  }

  function fit(charts) {
    Object.keys(charts || {}).forEach(function (name) {
      var chart = charts[name];
      var holder = chart.root.parentNode && chart.root.parentNode.parentNode;
      if (!holder) { return; }
      var width = widthOf(holder);
      if (Math.abs(width - chart.width) > 4) {
        chart.setSize({ width: width, height: chart.height });
      }
    });
  }

  window.autocanaryCharts = { render: render, fit: fit };
}());
