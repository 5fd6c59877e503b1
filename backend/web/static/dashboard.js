/* Dashboard charts (Chart.js, vendored). Data comes from /dashboard/data.json; no inline scripts. */
(function () {
  "use strict";
  var box = document.getElementById("charts");
  if (!box || typeof Chart === "undefined") { return; }
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  fetch(box.getAttribute("data-src"), {credentials: "same-origin"}).then(function (r) { return r.json(); })
    .then(function (s) {
      new Chart(document.getElementById("chart-trend"), {
        type: "bar",
        data: {labels: s.months, datasets: [
          {label: "Tiếp nhận", data: s.received, backgroundColor: "#5b8bd0"},
          {label: "Đã xử lý", data: s.resolved, backgroundColor: "#2f8f55"}]},
        options: {maintainAspectRatio: false, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
      });
      new Chart(document.getElementById("chart-hist"), {
        type: "bar",
        data: {labels: s.histogram.labels, datasets: [
          {label: "Số phản ánh", data: s.histogram.counts, backgroundColor: "#8a6fc4"}]},
        options: {maintainAspectRatio: false, plugins: {legend: {display: false}},
                  scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
      });
      new Chart(document.getElementById("chart-ontime"), {
        type: "line",
        data: {labels: s.months, datasets: [
          {label: "Đúng hạn (%)", data: s.on_time_rate, borderColor: "#b35c00", backgroundColor: "#b35c00",
           spanGaps: true}]},
        options: {maintainAspectRatio: false, scales: {y: {min: 0, max: 100}}}
      });
      box.setAttribute("data-ready", "1");
      box.setAttribute("data-total", String(s.received.reduce(function (a, b) { return a + b; }, 0)));
    });
})();
