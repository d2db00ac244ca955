// Kunveno's only script: it improves pages that already work without it.
// - <time data-local> also shows the time in the visitor's own time zone;
// - [data-confirm] buttons ask before a destructive action;
// - forms with data-progress show that a long answer (an export) is being prepared.
(function () {
  "use strict";
  function localTimes() {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when) || el.getAttribute("data-zone") === zone) { return; }
      var text = when.toLocaleString(undefined, {
        weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      });
      var out = document.createElement("span");
      out.className = "meta local-time";
      out.textContent = " (" + (el.getAttribute("data-label") || "your time") + ": " + text + ")";
      el.after(out);
    });
  }
  function confirmations() {
    document.querySelectorAll("[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }
  function progress() {
    document.querySelectorAll("form[data-progress]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var bar = document.getElementById(form.getAttribute("data-progress"));
        if (bar) { bar.hidden = false; }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(); confirmations(); progress();
  });
})();
