// chocohub admin: the dashboard's buttons. Each asks for confirmation, sends one POST to
// the JSON API with the session's CSRF token, and disables itself so it acts once.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var flash = document.getElementById("flash");
  if (!meta) return;
  var csrf = meta.getAttribute("content");

  function say(text, ok) {
    flash.textContent = text;
    flash.className = ok ? "flash" : "flash error";
    flash.hidden = false;
  }

  function post(path, body) {
    // Relative to the page (/admin, or /<stage>/admin behind API Gateway).
    return fetch("admin/api/" + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    });
  }

  function settle(button, letter) {
    document.querySelectorAll('[data-letter="' + letter + '"] button, button[data-letter="' + letter + '"]')
      .forEach(function (b) { b.disabled = true; });
    button.disabled = true;
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    var action = button.dataset.action, letter = button.dataset.letter, request;
    if (action === "replay") {
      if (!window.confirm("Replay dead letter " + letter + " through today's code?")) return;
      button.disabled = true;
      request = post("dead-letters/" + letter + "/replay").then(function (r) {
        if (r.ok) { settle(button, letter); say("Replayed " + letter + ": it is back on its queue.", true); }
        else { say(r.data.error || "Replay failed.", false); }
      });
    } else if (action === "discard") {
      var reason = window.prompt("Discard dead letter " + letter + " for good. Why?");
      if (!reason || !reason.trim()) return;
      button.disabled = true;
      request = post("dead-letters/" + letter + "/discard", { reason: reason }).then(function (r) {
        if (r.ok) { settle(button, letter); say("Discarded " + letter + ".", true); }
        else { say(r.data.error || "Discard failed.", false); }
      });
    } else if (action === "replay-reason") {
      if (!window.confirm("Replay every dead letter that failed with: " + button.dataset.reason + "?")) return;
      button.disabled = true;
      request = post("dead-letters/replay", { reason: button.dataset.reason }).then(function (r) {
        if (r.ok) {
          r.data.replayed.forEach(function (id) { settle(button, id); });
          say("Replayed " + r.data.replayed.length + " dead letter" + (r.data.replayed.length === 1 ? "" : "s") + ".", true);
        } else { say(r.data.error || "Replay failed.", false); }
      });
    }
    if (request) request.catch(function () { say("The hub did not answer. Try again.", false); button.disabled = false; });
  });
})();
