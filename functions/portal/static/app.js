// kobo Developer Portal: copy buttons and confirmations. Every form works without this.
"use strict";
document.addEventListener("click", function (e) {
  var copy = e.target.closest("[data-copy]");
  if (copy) {
    var el = document.getElementById(copy.getAttribute("data-copy"));
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        copy.textContent = "Copied";
      });
    }
    e.preventDefault();
  }
});
document.addEventListener("submit", function (e) {
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
