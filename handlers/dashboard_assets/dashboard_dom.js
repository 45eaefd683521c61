/* autocanary dashboard: the small helpers the rollout list and the detail view share.
 *
 * window.autocanaryDom: el(tag, attrs, children) builds an element (the "text" attribute and
 * string children become text nodes, never markup), clear(node) empties one, enc(part)
 * encodes a path or hash segment, hhmm(iso) a time as "HH:MM UTC", modelOf(rollout) names a
 * rollout's model as "name:version", phaseColor(phase) and phaseBadge(phase, paused) show a
 * phase in the colours of the charts (dashboard_charts.js, loaded before this file).
 */
(function () {
  "use strict";

  var PHASE_COLORS = window.autocanaryCharts.PHASE_COLORS;

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

  function enc(part) { return encodeURIComponent(part); }

  function hhmm(iso) {
    if (!iso) { return "-"; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso); }
    return d.toISOString().slice(11, 16) + " UTC";
  }

  // "fraud:7" (a view has model and version as strings; an older document has a model object)
  function modelOf(r) {
    var m = r.model;
    if (m && typeof m === "object") { return m.name + ":" + (r.version || m.version); }
    return m + ":" + r.version;
  }

  function phaseColor(phase) { return PHASE_COLORS[phase] || "#5f6368"; }

  function phaseBadge(phase, paused) {
    var badge = el("span", { class: "badge", text: phase || "?" });
    badge.style.background = phaseColor(phase);
    var parts = [badge];
    if (paused) { parts.push(el("span", { class: "badge paused", text: "paused" })); }
    return el("span", { class: "badges" }, parts);
  }

  window.autocanaryDom = {
    el: el, clear: clear, enc: enc, hhmm: hhmm, modelOf: modelOf, phaseColor: phaseColor,
    phaseBadge: phaseBadge
  };
}());
