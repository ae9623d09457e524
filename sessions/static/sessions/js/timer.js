/* Elapsed time of running sessions, ticking every second. The start time comes from
   the server (data-timer-start, ISO 8601), so a reload shows the same value. */
(function () {
  if (window.mspSessionTimers) { return; }
  window.mspSessionTimers = true;
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function format(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + " h " + pad(m) + " min " : (m ? m + " min " : "")) + pad(s) + " s";
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
