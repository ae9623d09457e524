/* Timesheet grid: totals follow the values while typing, a value that is not hours is
   marked at once, and "Add a row" copies the empty row template. The server checks
   everything again on save; this only spares a round trip. */
(function () {
  "use strict";
  var table = document.querySelector("[data-timesheet]");
  if (!table) { return; }
  var form = table.closest("form");

  /* The rule of contracts.services.parse_hours: "1.5", "1,5", "1:30", "1:30:05";
     empty is nothing (null), anything else is not hours (NaN). */
  function parseHours(text) {
    text = (text || "").trim();
    if (!text) { return null; }
    var seconds;
    if (text.indexOf(":") !== -1) {
      var parts = text.split(":");
      if (parts.length > 3) { return NaN; }
      for (var i = 0; i < parts.length; i++) {
        if (!/^\d*$/.test(parts[i])) { return NaN; }
      }
      seconds = Number(parts[0] || 0) * 3600 + Number(parts[1] || 0) * 60 +
        (parts.length > 2 ? Number(parts[2] || 0) : 0);
    } else {
      if (!/^\d+([.,]\d*)?$|^[.,]\d+$/.test(text)) { return NaN; }
      var hours = Number(text.replace(",", "."));
      if (hours > 1000) { return NaN; }
      seconds = Math.round(hours * 3600);
    }
    return seconds;
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  /* The rule of billing_site.timeutils.format_duration (as sessions/js/timer.js). */
  function format(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (!h && !m) { return s + " s"; }
    if (!h) { return m + " min" + (s ? " " + s + " s" : ""); }
    return h + " h " + pad(m) + " min" + (s ? " " + pad(s) + " s" : "");
  }

  function show(cell, seconds) {
    if (seconds) {
      cell.textContent = format(seconds);
    } else {
      cell.innerHTML = "";
      var dash = document.createElement("span");
      dash.className = "muted";
      dash.textContent = "—";
      cell.appendChild(dash);
    }
  }

  // Marks only what it found itself: a cell the server marked keeps its message till saved.
  function markTyped(input, seconds) {
    if (typeof seconds === "number" && isNaN(seconds)) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("data-typed-invalid", "");
      input.title = "“" + input.value.trim() + "” is not a number of hours (use 1.5 or 1:30).";
    } else if (input.hasAttribute("data-typed-invalid")) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("data-typed-invalid");
      input.removeAttribute("title");
    }
  }

  function recompute() {
    var days = [0, 0, 0, 0, 0, 0, 0];
    table.querySelectorAll("[data-timesheet-row]").forEach(function (row) {
      var total = 0;
      row.querySelectorAll("input[data-day]").forEach(function (input) {
        var seconds = parseHours(input.value);
        var value = (seconds && !isNaN(seconds) ? seconds : 0) +
          Number(input.getAttribute("data-other") || 0);
        days[Number(input.getAttribute("data-day"))] += value;
        total += value;
      });
      var cell = row.querySelector("[data-row-total]");
      if (cell) { cell.textContent = total ? format(total) : ""; }
    });
    var week = 0;
    days.forEach(function (seconds, day) {
      week += seconds;
      var cell = table.querySelector('[data-day-total="' + day + '"]');
      if (cell) { show(cell, seconds); }
    });
    var weekCell = table.querySelector("[data-week-total]");
    if (weekCell) { show(weekCell, week); }
  }

  table.addEventListener("input", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-day]")) { return; }
    markTyped(input, parseHours(input.value));
    recompute();
  });

  var template = document.getElementById("timesheet-row-template");
  var counter = form && form.querySelector("[data-row-count]");
  var addButton = form && form.querySelector("[data-add-row]");
  if (template && counter && addButton) {
    addButton.addEventListener("click", function (event) {
      event.preventDefault();
      var index = Number(counter.value || 0);
      var markup = template.innerHTML.replace(/__n__/g, String(index))
        .replace(/__row__/g, String(index + 1));
      var holder = document.createElement("tbody");
      holder.innerHTML = markup.trim();
      var row = holder.querySelector("tr");
      table.querySelector("[data-timesheet-rows]").appendChild(row);
      counter.value = String(index + 1);
      var first = row.querySelector("select, input[type=text]");
      if (first) { first.focus(); }
    });
  }
  recompute();
})();
