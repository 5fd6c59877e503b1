/* Report on behalf (/inbox/new): the location picker (ward search, then a pin to drag or a tap on the map),
   one submit only, and the "copy the SMS text" button of the page after the submit. Base map tiles come
   from TILE_URL (<body data-tiles>). No inline script: the strict CSP forbids it. */
(function () {
  "use strict";

  function picker(el) {
    var form = el.closest("form");
    var lat = form.querySelector("input[name=lat]"), lon = form.querySelector("input[name=lon]");
    var status = document.getElementById("location-status");
    var map = L.map(el, {zoomControl: true, attributionControl: true});
    map.attributionControl.setPrefix(false);
    var tiles = document.body.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, {maxZoom: 19, attribution: document.body.getAttribute("data-attribution") || ""}).addTo(map);
    }
    var box = (el.getAttribute("data-bounds") || "").split(",").map(parseFloat);
    if (box.length === 4 && box.every(isFinite)) {
      map.fitBounds([[box[1], box[0]], [box[3], box[2]]]);
    } else {
      map.setView([16.05, 108.2], 12);
    }
    var marker = null;
    function place(latlng) {
      if (!marker) {
        marker = L.marker(latlng, {draggable: true, autoPan: true, title: el.getAttribute("data-pin-title") || ""})
          .addTo(map);
        marker.on("dragend", function () { place(marker.getLatLng()); });
      } else {
        marker.setLatLng(latlng);
      }
      lat.value = latlng.lat.toFixed(6); lon.value = latlng.lng.toFixed(6);
      el.setAttribute("data-placed", "1");
      if (status) { status.textContent = status.getAttribute("data-pin") + " (" + lat.value + ", " + lon.value + ")"; }
    }
    if (lat.value && lon.value) {
      place(L.latLng(parseFloat(lat.value), parseFloat(lon.value)));
      map.setView(marker.getLatLng(), 16);
    }
    map.on("click", function (e) { place(e.latlng); });
    el.setAttribute("data-ready", "1");
    return {place: place, map: map};
  }

  function search(input, results, pick) {
    var url = input.getAttribute("data-src") + "?q=" + encodeURIComponent(input.value.trim());
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (found) {
      results.textContent = "";
      if (!found.length) {
        var li = document.createElement("li");
        li.textContent = results.getAttribute("data-empty");
        results.appendChild(li);
        return;
      }
      found.forEach(function (p) {
        var li = document.createElement("li");
        var b = document.createElement("button");
        b.type = "button"; b.className = "link"; b.textContent = p.name;
        b.addEventListener("click", function () { pick(p); results.textContent = ""; input.value = p.name; });
        li.appendChild(b);
        results.appendChild(li);
      });
    }).catch(function () {});
  }

  document.querySelectorAll("[data-map=behalf]").forEach(function (el) {
    if (typeof L === "undefined") { return; }
    var p = picker(el);
    var input = document.getElementById("place"), results = document.getElementById("place-results");
    var go = document.getElementById("place-go");
    function pick(found) {
      p.map.fitBounds([[found.bbox[1], found.bbox[0]], [found.bbox[3], found.bbox[2]]]);
      p.place(L.latLng(found.lat, found.lon));
    }
    if (go) { go.addEventListener("click", function () { search(input, results, pick); }); }
    if (input) {
      input.addEventListener("keydown", function (e) {
        if (e.key === "Enter") { e.preventDefault(); search(input, results, pick); }  // never submits the form
      });
    }
  });

  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var b = form.querySelector("button[type=submit]");
      if (b) { setTimeout(function () { b.disabled = true; }, 0); }
    });
  });

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.getAttribute("data-copy"));
      text.select();
      var done = function () { button.textContent = button.getAttribute("data-done"); };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy"); done();
      }
    });
  });
})();
