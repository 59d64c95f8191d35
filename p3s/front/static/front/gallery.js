// The gallery grid: picking a layout or a run shows it at once (the Show button does too).
(function () {
  "use strict";
  ["layout-pick", "grid-run"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) el.addEventListener("change", function () { el.form.submit(); });
  });
})();
