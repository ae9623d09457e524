/* Contract form: show only the terms of the chosen contract type. Each section names
   the types it belongs to in data-types (space separated). */
(function () {
  "use strict";
  var select = document.getElementById("id_contract_type");
  if (!select) { return; }
  function sync() {
    document.querySelectorAll("[data-types]").forEach(function (section) {
      section.hidden = section.dataset.types.split(" ").indexOf(select.value) === -1;
    });
  }
  select.addEventListener("change", sync);
  sync();
})();
