/* autocanary dashboard: the operator actions of the rollout shown (plain JavaScript).
 *
 * One button per action the API allows now (the rollout document's allowed_actions: pause,
 * resume, promote, rollback, abort, retry, cancel), a reason (required, as the API requires
 * it: it is recorded with the decision) and an optional actor (else the API's default: the
 * signed-in user, or "operator"). A click POSTs /api/rollouts/{endpoint}/{action} with the
 * page's key and shows what the API answered (the action's outcome, or its error and hint);
 * nothing is sent without a reason. The page reloads the rollout after an action went
 * through. Every value is put in the page as text, never as markup.
 */
(function () {
  "use strict";

  // actions that change what users are served at once: styled apart
  var SHARP = ["promote", "rollback", "abort"];
  var HINTS = {
    pause: "stop progress (protection goes on)",
    resume: "go on from here (restarts the stage clock)",
    promote: "skip the remaining checks of this stage",
    rollback: "all traffic back to the baseline now",
    abort: "stop the rollout and restore the baseline",
    retry: "start this version again as a new rollout",
    cancel: "drop the version waiting for this endpoint"
  };

  function post(base, key, path, body) {
    var headers = { Accept: "application/json", "Content-Type": "application/json" };
    if (key) { headers["x-functions-key"] = key; }
    return fetch(base + path, {
      method: "POST", headers: headers, body: JSON.stringify(body), cache: "no-store",
      credentials: "omit"
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var doc = null;
        try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
        if (!resp.ok) {
          var err = (doc && doc.error) || {};
          throw new Error((err.message || ("HTTP " + resp.status)) +
            (err.hint ? " - " + err.hint : ""));
        }
        return doc;
      });
    });
  }

  function said(reply) {
    var r = reply && reply.rollout;
    var d = reply && reply.decision;
    var parts = [reply.action + ": " + reply.outcome];
    if (r) { parts.push(r.phase + (r.paused ? " (paused)" : "")); }
    if (d && d.reason) { parts.push(d.reason); }
    return parts.join(" · ");
  }

  /* The actions block for the document ``doc`` (GET /api/rollouts/{endpoint} or its history
   * entry). ``ctx``: {el, base, key, notice (what the last action did, shown again after the
   * reload it caused), onDone(reply, text)}. */
  function block(doc, ctx) {
    var el = ctx.el;
    var r = doc.rollout;
    var allowed = r.allowed_actions || doc.allowed_actions || [];
    var box = el("div", { class: "actions", id: "actions" });
    var status = el("p", { class: "action-status", id: "action-status", role: "status",
      text: ctx.notice || "" });
    if (!allowed.length) {
      box.appendChild(el("p", { class: "muted", text: "No action is possible now." }));
      box.appendChild(status);
      return box;
    }
    var reason = el("input", { type: "text", id: "action-reason", maxlength: "500",
      placeholder: "reason (required: recorded with the decision)", "aria-label": "reason" });
    var actor = el("input", { type: "text", id: "action-actor", maxlength: "100",
      placeholder: "who (optional)", "aria-label": "who acts" });
    var buttons = allowed.map(function (name) {
      return el("button", { type: "button", "data-action": name, title: HINTS[name] || "",
        class: SHARP.indexOf(name) >= 0 ? "action sharp" : "action", text: name });
    });
    function busy(on) { buttons.forEach(function (b) { b.disabled = on; }); }
    function show(text, isError) {
      status.textContent = text;
      status.className = "action-status" + (isError ? " error" : "");
    }
    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        var name = button.getAttribute("data-action");
        var why = reason.value.trim();
        if (!why) {
          show("Say why before you " + name + ": the reason is recorded with the decision.",
            true);
          reason.focus();
          return;
        }
        var body = { reason: why };
        if (actor.value.trim()) { body.actor = actor.value.trim(); }
        busy(true);
        show(name + "...", false);
        post(ctx.base, ctx.key,
          "rollouts/" + encodeURIComponent(r.endpoint) + "/" + encodeURIComponent(name), body)
          .then(function (reply) {
            var text = said(reply);
            show(text, false);
            reason.value = "";
            busy(false);
            if (ctx.onDone) { ctx.onDone(reply, text); }
          }, function (err) {
            show(name + " refused: " + err.message, true);
            busy(false);
          });
      });
    });
    box.appendChild(el("div", { class: "action-fields" }, [reason, actor]));
    box.appendChild(el("div", { class: "action-buttons" }, buttons));
    box.appendChild(status);
    return box;
  }

  window.autocanaryActions = { block: block };
}());
