/* phananh staff UI: drag-select rectangles to blur on a photo's public copy (report page, moderation).
   Wired from data-* attributes (strict CSP, no inline script). The keyboard way is the four numeric
   fields: they always show the current rectangle, and typing in them moves it. Every rectangle is sent
   as a hidden "rect" field "x,y,w,h" in the public copy's pixels; without this script the numeric
   fields alone are sent (one rectangle). */
(function () {
  "use strict";
  var MIN = 4;      // a drag smaller than this (in image pixels) is a click, not a rectangle
  var MAX_RECTS = 20;

  function setup(form) {
    var stage = form.querySelector("[data-blur-stage]");
    var img = form.querySelector("[data-blur-image]");
    var holder = form.querySelector("[data-blur-rects]");
    var count = form.querySelector("[data-blur-count]");
    var clear = form.querySelector("[data-blur-clear]");
    var fields = {};
    Array.prototype.forEach.call(form.querySelectorAll("[data-blur-field]"), function (input) {
      fields[input.getAttribute("data-blur-field")] = input;
    });
    if (!stage || !img || !holder) { return; }
    var rects = [];
    var drag = null;

    function size() { return {w: img.naturalWidth, h: img.naturalHeight}; }
    function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }

    function toImage(e) {  // pointer position -> public-copy pixels
      var box = img.getBoundingClientRect();
      var s = size();
      return {x: clamp(Math.round((e.clientX - box.left) * s.w / box.width), 0, s.w),
              y: clamp(Math.round((e.clientY - box.top) * s.h / box.height), 0, s.h)};
    }
    function fromPoints(a, b) {
      return {x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y)};
    }
    function place(el, r) {  // CSSOM styles (allowed by the CSP), in % so the box follows the image's size
      var s = size();
      el.style.left = (100 * r.x / s.w) + "%";
      el.style.top = (100 * r.y / s.h) + "%";
      el.style.width = (100 * r.w / s.w) + "%";
      el.style.height = (100 * r.h / s.h) + "%";
    }
    function box(r, current) {
      var el = document.createElement("div");
      el.className = "blur-box" + (current ? " is-current" : "");
      place(el, r);
      stage.appendChild(el);
      return el;
    }
    function showFields(r) {
      ["x", "y", "w", "h"].forEach(function (k) { if (fields[k]) { fields[k].value = r ? String(r[k]) : ""; } });
    }
    function render() {
      Array.prototype.forEach.call(stage.querySelectorAll(".blur-box"), function (el) { el.remove(); });
      while (holder.firstChild) { holder.removeChild(holder.firstChild); }
      if (size().w) {
        rects.forEach(function (r, i) { box(r, i === rects.length - 1); });
      }
      rects.forEach(function (r) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "rect";
        input.value = [r.x, r.y, r.w, r.h].join(",");
        holder.appendChild(input);
      });
      if (count) {
        count.textContent = rects.length ? (form.getAttribute("data-count-text") || "{n}").replace("{n}", rects.length) : "";
      }
      if (clear) { clear.hidden = rects.length === 0; }
    }

    stage.addEventListener("pointerdown", function (e) {
      if (e.button !== 0 || !size().w || rects.length >= MAX_RECTS) { return; }
      e.preventDefault();
      var start = toImage(e);
      drag = {start: start, el: box({x: start.x, y: start.y, w: 0, h: 0}, true)};
      drag.el.classList.add("is-drawing");
      if (stage.setPointerCapture) { stage.setPointerCapture(e.pointerId); }
    });
    stage.addEventListener("pointermove", function (e) {
      if (drag) { place(drag.el, fromPoints(drag.start, toImage(e))); }
    });
    function finish(e, cancelled) {
      if (!drag) { return; }
      var r = fromPoints(drag.start, toImage(e));
      drag.el.remove();
      drag = null;
      if (cancelled || r.w < MIN || r.h < MIN) { render(); return; }
      rects.push(r);
      showFields(r);
      render();
    }
    stage.addEventListener("pointerup", function (e) { finish(e, false); });
    stage.addEventListener("pointercancel", function (e) { finish(e, true); });
    stage.addEventListener("dragstart", function (e) { e.preventDefault(); });
    img.addEventListener("load", render);

    // typing in the numeric fields moves the current rectangle (or makes the first one)
    Object.keys(fields).forEach(function (k) {
      fields[k].addEventListener("input", function () {
        var r = {};
        var ok = ["x", "y", "w", "h"].every(function (n) {
          var v = fields[n] ? fields[n].value.trim() : "";
          r[n] = parseInt(v, 10);
          return /^\d+$/.test(v);
        });
        if (!ok) { return; }
        if (rects.length) { rects[rects.length - 1] = r; } else { rects.push(r); }
        render();
      });
    });
    if (clear) {
      clear.addEventListener("click", function () {
        rects = [];
        showFields(null);
        render();
        if (fields.x) { fields.x.focus(); }
      });
    }
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && drag) { drag.el.remove(); drag = null; }
    });
    render();
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-blur]"), setup);
})();
