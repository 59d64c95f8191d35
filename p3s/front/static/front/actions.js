// p3s pages: what inline event handlers would do, bound here (the Content-Security-Policy
// allows no inline handlers). data-confirm="question" on a button or a form asks first;
// data-tick-all="selector" on a checkbox ticks or unticks every box the selector finds.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var el = e.target.closest && e.target.closest("button[data-confirm], input[data-confirm]");
    if (el && !window.confirm(el.dataset.confirm)) e.preventDefault();
    var all = e.target.closest && e.target.closest("input[data-tick-all]");
    if (all) document.querySelectorAll(all.dataset.tickAll).forEach(function (b) { b.checked = all.checked; });
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });
})();
