// Pregonero's web desk: ask before a form that cannot be undone is sent (data-confirm).
// A file of its own: the desk's CSP allows no inline script.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
