/* phananh staff UI: CSRF for htmx, keyboard shortcuts, row navigation, reply templates.
   No inline scripts anywhere (strict CSP); everything is wired from data-* attributes. */
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  document.body.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRFToken"] = csrf;
  });

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.qrow")); }
  function current() { return document.querySelector("tr.qrow.is-current"); }
  function setCurrent(row) {
    rows().forEach(function (r) { r.classList.remove("is-current"); r.removeAttribute("aria-selected"); });
    if (!row) { return; }
    row.classList.add("is-current");
    row.setAttribute("aria-selected", "true");
    var link = row.querySelector("a.code");
    if (link) { link.focus({preventScroll: true}); }
    row.scrollIntoView({block: "nearest"});
  }
  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var i = all.indexOf(current());
    var next = i < 0 ? 0 : Math.min(all.length - 1, Math.max(0, i + step));
    setCurrent(all[next]);
  }

  // live refresh of the queue: skip while the user has selected rows or loaded more pages
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-live")) {
      var busy = elt.querySelector("input[type=checkbox]:checked") || elt.getAttribute("data-more") === "1";
      if (busy) { e.preventDefault(); }
    }
  });
  document.body.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (target && target.id === "more-row") {
      var body = document.getElementById("queue-body");
      if (body) { body.setAttribute("data-more", "1"); }
    }
  });
  var keepCode = null;
  document.body.addEventListener("htmx:beforeSwap", function () {
    var c = current();
    keepCode = c ? c.getAttribute("data-code") : null;
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    if (keepCode) {
      var again = document.querySelector('tr.qrow[data-code="' + keepCode + '"]');
      if (again) { again.classList.add("is-current"); }
    }
  });

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.closest("a, button, input, select, textarea, label, form")) { return; }
    var row = t.closest("tr.qrow[data-href]");
    if (row) { window.location.href = row.getAttribute("data-href"); }
  });

  document.addEventListener("change", function (e) {
    var sel = e.target;
    if (sel.matches && sel.matches("select[data-template-for]")) {
      var opt = sel.options[sel.selectedIndex];
      var area = document.getElementById(sel.getAttribute("data-template-for"));
      if (area && opt && opt.getAttribute("data-body") !== null) {
        area.value = opt.getAttribute("data-body");
        area.focus();
      }
    }
  });

  document.addEventListener("click", function (e) {
    var dup = e.target.closest("[data-dup]");
    if (dup) {
      openAndFocus("details-dup", "dup-code");
      var input = document.getElementById("dup-code");
      if (input) { input.value = dup.getAttribute("data-dup"); }
    }
    if (e.target.closest("[data-help]")) { showHelp(); }
  });

  function showHelp() {
    var d = document.getElementById("help-dialog");
    if (d && !d.open) { d.showModal(); }
  }
  function openAndFocus(detailsId, fieldId) {
    var d = document.getElementById(detailsId);
    if (!d) { return false; }
    d.open = true;
    var f = document.getElementById(fieldId);
    if (f) { f.focus(); f.scrollIntoView({block: "center"}); }
    return true;
  }
  function typing(t) {
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }
  function acknowledge() {
    var btn = document.getElementById("action-acknowledge");
    if (btn) { btn.click(); return; }
    var form = document.getElementById("bulk-form");
    var row = current();
    if (!form || !row) { return; }
    var checked = document.querySelectorAll("#queue-body input[type=checkbox]:checked");
    if (!checked.length) {
      var box = row.querySelector("input[type=checkbox]");
      if (box) { box.checked = true; }
    }
    form.querySelector("select[name=action]").value = "acknowledge";
    form.requestSubmit();
  }

  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) { return; }
    var k = e.key;
    if (pendingG) {
      pendingG = false;
      if (k === "i") { window.location.href = "/inbox"; e.preventDefault(); }
      return;
    }
    switch (k) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": case "o":
        if (current()) { window.location.href = current().getAttribute("data-href"); } else { return; }
        break;
      case "x": {
        var c = current();
        var box = c && c.querySelector("input[type=checkbox]");
        if (box) { box.checked = !box.checked; } else { return; }
        break;
      }
      case "a": acknowledge(); break;
      case "t": if (!openAndFocus("details-transfer", "transfer-unit")) { var u = document.getElementById("bulk-action"); if (u) { u.value = "transfer"; document.getElementById("bulk-unit").focus(); } } break;
      case "r": openAndFocus("details-reply", "reply-text"); break;
      case "n": openAndFocus("details-note", "note-text"); break;
      case "/": { var s = document.querySelector("[data-search]"); if (s) { s.focus(); s.select(); } break; }
      case "g": pendingG = true; break;
      case "?": showHelp(); break;
      default: return;
    }
    e.preventDefault();
  });
})();
