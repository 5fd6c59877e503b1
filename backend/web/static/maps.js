/* Leaflet maps of the staff UI: one report's point, the queue's points, the dashboard heat layer.
   Base map tiles come from TILE_URL (<body data-tiles>, with its attribution); ward outlines are drawn
   from our own GeoJSON. A report's pin can be dragged by staff who may correct the location. */
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }
  var COLORS = {ok: "#1b7a3a", due_soon: "#b35c00", overdue: "#b3261e", none: "#4a5568"};

  function base(el, view) {
    var map = L.map(el, {zoomControl: true, attributionControl: true});
    map.attributionControl.setPrefix(false);
    var tiles = document.body.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, {maxZoom: 19, attribution: document.body.getAttribute("data-attribution") || ""}).addTo(map);
    }
    if (view) { map.setView(view, 16); }
    return map;
  }
  function areas(map, url, fit) {
    if (!url) { return; }
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (geo) {
      var layer = L.geoJSON(geo, {style: {color: "#5b6b8c", weight: 1, fillOpacity: 0.04}}).addTo(map);
      if (fit && layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); }
    }).catch(function () {});
  }
  function popup(props) {
    var div = document.createElement("div");
    var a = document.createElement("a");
    a.href = props.url; a.textContent = props.code;
    div.appendChild(a);
    div.appendChild(document.createTextNode(" · " + (props.category || "") + " · " + (props.state || "")));
    return div;
  }

  document.querySelectorAll("[data-map=point]").forEach(function (el) {
    var lat = parseFloat(el.getAttribute("data-lat")), lon = parseFloat(el.getAttribute("data-lon"));
    var map = base(el, [lat, lon]);
    L.circleMarker([lat, lon], {radius: 9, color: "#0b4f9c", weight: 3, fillOpacity: 0.6}).addTo(map)
      .bindTooltip(el.getAttribute("data-code"));
    L.circle([lat, lon], {radius: 300, color: "#0b4f9c", weight: 1, fillOpacity: 0.03}).addTo(map);
    var relocate = document.getElementById(el.getAttribute("data-relocate") || "");
    if (relocate) {  // staff who may correct the location drag this pin, then save (the relocate action)
      var pin = L.marker([lat, lon], {draggable: true, autoPan: true, title: "Kéo để sửa vị trí"}).addTo(map);
      pin.on("dragend", function () {
        var p = pin.getLatLng();
        relocate.querySelector("input[name=lat]").value = p.lat.toFixed(6);
        relocate.querySelector("input[name=lon]").value = p.lng.toFixed(6);
        relocate.hidden = false;
        el.setAttribute("data-moved", "1");
      });
    }
    el.setAttribute("data-ready", "1");
  });

  document.querySelectorAll("[data-map=points]").forEach(function (el) {
    var map = base(el, null);
    map.setView([16.05, 108.2], 12);
    areas(map, el.getAttribute("data-areas"), true);
    fetch(el.getAttribute("data-src"), {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (geo) {
        var layer = L.geoJSON(geo, {
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, {radius: 7, weight: 2, color: COLORS[f.properties.deadline] || COLORS.none,
                                           fillOpacity: 0.7});
          },
          onEachFeature: function (f, l) { l.bindPopup(popup(f.properties)); }
        }).addTo(map);
        if (layer.getBounds().isValid()) { map.fitBounds(layer.getBounds(), {maxZoom: 16}); }
        el.setAttribute("data-ready", "1");
        el.setAttribute("data-count", String(geo.features.length));
      });
  });

  document.querySelectorAll("[data-map=heat]").forEach(function (el) {
    var map = base(el, null);
    map.setView([16.05, 108.2], 12);
    areas(map, el.getAttribute("data-areas"), true);
    fetch(el.getAttribute("data-src"), {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (data) {
        if (L.heatLayer && data.points.length) {
          L.heatLayer(data.points, {radius: 18, blur: 14, minOpacity: 0.3}).addTo(map);
          map.fitBounds(L.latLngBounds(data.points.map(function (p) { return [p[0], p[1]]; })), {maxZoom: 15});
        }
        el.setAttribute("data-ready", "1");
        el.setAttribute("data-count", String(data.points.length));
      });
  });
})();
