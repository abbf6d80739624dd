// The board's live updates: on every change event, fetch the board again and
// swap it in. A form someone is filling in is left alone until they are done.
(function () {
  "use strict";
  var main = document.getElementById("board");
  var live = document.getElementById("live");
  if (!main || !window.EventSource || !window.fetch) { return; }

  var waiting = false;
  var again = false;

  function busy() {
    var el = document.activeElement;
    if (el && main.contains(el) && (el.tagName === "INPUT" || el.tagName === "SELECT")) { return true; }
    var fields = main.querySelectorAll("input");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value !== "") { return true; } }
    var open = main.querySelector("details[open]");
    return open !== null;
  }

  function refresh() {
    if (waiting) { again = true; return; }
    if (busy()) { again = true; setTimeout(refresh, 2000); return; }
    waiting = true;
    again = false;
    fetch("/board/fragment", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/board"); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          main.innerHTML = html;
          main.setAttribute("data-updated", String(Date.now()));
        }
      })
      .catch(function () {})
      .then(function () {
        waiting = false;
        if (again) { setTimeout(refresh, 100); }
      });
  }

  var events = new EventSource("/board/events");
  ["train", "stop", "exception", "lagged"].forEach(function (name) {
    events.addEventListener(name, refresh);
  });
  events.addEventListener("open", function () {
    live.textContent = "live: changes show as they happen";
    live.setAttribute("data-live", "yes");
  });
  events.addEventListener("error", function () {
    live.textContent = "reconnecting: the board may be out of date";
    live.setAttribute("data-live", "no");
  });
  // Time left and local clocks move even when nothing changes.
  setInterval(refresh, 60000);
})();
