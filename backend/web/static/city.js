/* The resident pages: the city's public map (clustered markers from /map.json) and the web report
   form's location picker (phone location or a pin to tap/drag). Plain JS, no framework: it must work
   in Zalo's in-app browser. Base map tiles come from TILE_URL (<body data-tiles>). */
(function () {
  "use strict";
  /* the city app's WebView hands its Firebase ID token over in the fragment: /report#id_token=<JWT>
     (a fragment never reaches a server or a log). It goes into the form's hidden field, which the server
     verifies; the fragment is removed from the address bar so it is not bookmarked or shared. */
  var tokenField = document.querySelector("form input[name=id_token]");
  var handed = /(?:^#|&)id_token=([^&]+)/.exec(window.location.hash || "");
  if (tokenField && handed) {
    try { tokenField.value = decodeURIComponent(handed[1]); } catch (e) { tokenField.value = ""; }
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }
  var signedIn = document.getElementById("signed-in");
  if (signedIn && tokenField && tokenField.value) { signedIn.hidden = false; }

  if (typeof L === "undefined") { return; }

  function base(el) {
    var map = L.map(el, {zoomControl: true, attributionControl: true});
    map.attributionControl.setPrefix(false);
    var tiles = el.getAttribute("data-tiles") || document.body.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, {maxZoom: 19, attribution: el.getAttribute("data-attribution") || ""}).addTo(map);
    }
    var box = (el.getAttribute("data-bounds") || "").split(",").map(parseFloat);
    if (box.length === 4 && box.every(isFinite)) {
      map.fitBounds([[box[1], box[0]], [box[3], box[2]]]);
    } else {
      map.setView([16.05, 108.2], 12);
    }
    return map;
  }

  function popup(p) {
    var div = document.createElement("div");
    var a = document.createElement("a");
    a.href = p.url; a.textContent = p.code;
    div.appendChild(a);
    div.appendChild(document.createTextNode(" · " + p.label + (p.category ? " · " + p.category : "") +
                                            " · " + p.received));
    return div;
  }

  var COLORS = {open: "#b35c00", resolved: "#1b7a3a", closed: "#4a5568"};

  document.querySelectorAll("[data-map=public]").forEach(function (el) {
    var map = base(el);
    fetch(el.getAttribute("data-src"), {credentials: "omit"}).then(function (r) { return r.json(); })
      .then(function (geo) {
        var group = L.markerClusterGroup ? L.markerClusterGroup({showCoverageOnHover: false}) : L.layerGroup();
        L.geoJSON(geo, {
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, {radius: 8, weight: 2, color: COLORS[f.properties.group] || COLORS.open,
                                           fillOpacity: 0.75});
          },
          onEachFeature: function (f, layer) { layer.bindPopup(popup(f.properties)); }
        }).eachLayer(function (layer) { group.addLayer(layer); });
        group.addTo(map);
        if (geo.features.length && group.getBounds && group.getBounds().isValid()) {
          map.fitBounds(group.getBounds(), {maxZoom: 16});
        }
        el.setAttribute("data-count", String(geo.features.length));
        el.setAttribute("data-ready", "1");
      }).catch(function () { el.setAttribute("data-ready", "error"); });
  });

  /* the report form: the pin writes lat/lon into the form's hidden inputs */
  document.querySelectorAll("[data-map=picker]").forEach(function (el) {
    var form = el.closest("form");
    var lat = form.querySelector("input[name=lat]"), lon = form.querySelector("input[name=lon]");
    var acc = form.querySelector("input[name=accuracy]");
    var status = document.getElementById("location-status");
    var map = base(el);
    var marker = null;
    function place(latlng, how) {
      if (!marker) {
        marker = L.marker(latlng, {draggable: true, autoPan: true, title: el.getAttribute("data-pin-title") || ""})
          .addTo(map);
        marker.on("dragend", function () { place(marker.getLatLng(), "pin"); });
      } else {
        marker.setLatLng(latlng);
      }
      lat.value = latlng.lat.toFixed(6); lon.value = latlng.lng.toFixed(6);
      if (how !== "gps" && acc) { acc.value = ""; }
      el.setAttribute("data-placed", how);
      if (status) { status.textContent = status.getAttribute("data-" + how) + " (" + lat.value + ", " + lon.value + ")"; }
    }
    if (lat.value && lon.value) { place(L.latLng(parseFloat(lat.value), parseFloat(lon.value)), "pin"); map.setView(marker.getLatLng(), 17); }
    map.on("click", function (e) { place(e.latlng, "pin"); });
    var button = document.getElementById("use-location");
    if (button && navigator.geolocation) {
      button.hidden = false;
      button.addEventListener("click", function () {
        if (status) { status.textContent = status.getAttribute("data-wait"); }
        navigator.geolocation.getCurrentPosition(function (pos) {
          var ll = L.latLng(pos.coords.latitude, pos.coords.longitude);
          if (acc) { acc.value = String(Math.round(pos.coords.accuracy || 0)); }
          place(ll, "gps");
          map.setView(ll, 17);
        }, function () {
          if (status) { status.textContent = status.getAttribute("data-denied"); }
        }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
      });
    }
    el.setAttribute("data-ready", "1");
  });

  /* one submit only: the button is disabled after the first click (the server is idempotent anyway) */
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var b = form.querySelector("button[type=submit]");
      if (b) { setTimeout(function () { b.disabled = true; }, 0); }
    });
  });
})();
