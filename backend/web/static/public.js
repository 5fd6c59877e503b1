/* Resident pages: a form is sent once (a second tap while the page loads does nothing). No inline code. */
(function () {
  "use strict";
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (form.getAttribute("data-sent")) { ev.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-busy", "true"); });
    });
  });
}());
