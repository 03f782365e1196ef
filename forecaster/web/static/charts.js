// Draws each <figure class="chart"> from the JSON figure next to it, with plotly.js served by the dashboard.
(function () {
  "use strict";
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll("figure.chart").forEach(function (figure) {
    var spec = JSON.parse(document.getElementById(figure.dataset.figure).textContent);
    figure.innerHTML = "";
    Plotly.newPlot(figure, spec.data, spec.layout, { responsive: true, displaylogo: false });
  });
})();
