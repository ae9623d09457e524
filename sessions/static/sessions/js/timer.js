/* Elapsed time of running sessions, ticking every second. The start time comes from
   the server (data-timer-start, ISO 8601), so a reload shows the same value. */
(function () {
  if (window.mspSessionTimers) { return; }
  window.mspSessionTimers = true;
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  /* The rule of billing_site.timeutils.format_duration, so a stopped timer reads as it
     ran: "42 s", "15 min 18 s", "15 min", "1 h 02 min 07 s", "2 h 05 min". */
  function format(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (!h && !m) { return s + " s"; }
    if (!h) { return m + " min" + (s ? " " + s + " s" : ""); }
    return h + " h " + pad(m) + " min" + (s ? " " + pad(s) + " s" : "");
  }
  function tick() {
    var nodes = document.querySelectorAll("[data-timer-start]");
    for (var i = 0; i < nodes.length; i++) {
      var start = Date.parse(nodes[i].getAttribute("data-timer-start"));
      if (!isNaN(start)) {
        nodes[i].textContent = format(Math.max(0, Math.floor((Date.now() - start) / 1000)));
      }
    }
  }
  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);
})();
