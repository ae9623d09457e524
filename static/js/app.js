/* Page behaviour wired by data attributes. Templates carry no inline script or
   on* handler: the Content-Security-Policy runs scripts from this site only.
   Listeners sit on the document, so content swapped in by htmx works too.
   - form[data-confirm="..."]: asks before the form is submitted.
   - select[data-autosubmit]: submits its form when changed (the MSP switcher).
   - input[data-select-all="name"]: checks or clears the checkboxes of that name in its table.
   - [data-print]: prints the page. */
(function () {
  "use strict";
  if (window.mspApp) { return; }
  window.mspApp = true;

  // Capture phase: a refusal stops the submit before any other listener (htmx) sees it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
      return;
    }
    var name = field.getAttribute("data-select-all");
    if (name) {
      var scope = field.closest("table") || document;
      scope.querySelectorAll('input[type="checkbox"]').forEach(function (box) {
        if (box.name === name) { box.checked = field.checked; }
      });
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) {
      event.preventDefault();
      window.print();
    }
  });
})();
