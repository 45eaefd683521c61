/* autocanary dashboard: the small helpers the rollout list and the detail view share.
 *
 * window.autocanaryDom: el(tag, attrs, children) builds an element (the "text" attribute and
 * string children become text nodes, never markup), clear(node) empties one, enc(part)
 * encodes a path or hash segment, seconds(iso) a time as epoch seconds, num(value, unit) a
 * figure, hhmm(iso) a time as "HH:MM UTC", modelOf(rollout) names a rollout's model as
 * "name:version", PHASE_COLORS are the phases' colours (the charts' too), phaseColor(phase)
 * and phaseBadge(phase, paused) show a phase in them. Loaded before the other scripts.
 */
(function () {
  "use strict";

  var PHASE_COLORS = {
    Pending: "#9aa0a6", Provisioning: "#9aa0a6", Shadowing: "#8e6bbf", Canary: "#1a73e8",
    Promoting: "#12a4af", Watching: "#12a4af", Succeeded: "#188038", RollingBack: "#e37400",
    RolledBack: "#d93025", Failed: "#a50e0e", Superseded: "#80868b", Aborted: "#c5221f"
  };

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

  function seconds(iso) { return iso ? Date.parse(iso) / 1000 : null; }

  function num(value, unit) {
    if (value === null || value === undefined || isNaN(value)) { return "-"; }
    var digits = unit === "%" ? 2 : (Math.abs(value) >= 100 ? 0 : 1);
    return Number(value).toFixed(digits) + (unit ? " " + unit : "");
  }

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
    el: el, clear: clear, enc: enc, seconds: seconds, num: num, hhmm: hhmm, modelOf: modelOf,
    PHASE_COLORS: PHASE_COLORS, phaseColor: phaseColor, phaseBadge: phaseBadge
  };
}());
