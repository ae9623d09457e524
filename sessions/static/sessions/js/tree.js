/* Collapse and expand the groups and computers of "Group by client". */
(function () {
  function rowsOf(key) {
    return document.querySelectorAll('.client-tree tr[data-parent~="' + key + '"]');
  }
  function setOpen(button, open) {
    var key = button.getAttribute("data-toggle");
    button.setAttribute("aria-expanded", open ? "true" : "false");
    var rows = rowsOf(key);
    for (var i = 0; i < rows.length; i++) {
      if (open) {
        // Re-open only what is not inside a still-collapsed computer.
        var parents = rows[i].getAttribute("data-parent").split(" ");
        var hidden = parents.some(function (p) {
          var b = document.querySelector('[data-toggle="' + p + '"]');
          return p !== key && b && b.getAttribute("aria-expanded") === "false";
        });
        rows[i].hidden = hidden;
      } else {
        rows[i].hidden = true;
      }
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-toggle]");
    if (button) {
      setOpen(button, button.getAttribute("aria-expanded") !== "true");
      return;
    }
    var all = event.target.closest("[data-tree-toggle]");
    if (all) {
      var open = all.getAttribute("data-tree-toggle") === "expand";
      document.querySelectorAll(".client-tree [data-toggle]").forEach(function (b) {
        setOpen(b, open);
      });
    }
  });
})();
