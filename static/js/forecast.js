// Forecast and reports charts. Data comes from json_script blocks; no inline scripts.
(function () {
  "use strict";

  function readJson(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  if (typeof Chart === "undefined") return;
  const money = (v) => Number(v).toLocaleString(undefined, { maximumFractionDigits: 0 });

  const data = readJson("forecast-chart-data");
  if (data) {
    const bars = document.getElementById("forecast-bars");
    if (bars) {
      new Chart(bars, {
        type: "bar",
        data: {
          labels: data.bars.labels,
          datasets: [
            { order: 2, label: "Closed won", data: data.bars.closed, backgroundColor: "#198754", stack: "f" },
            { order: 2, label: "Commit", data: data.bars.commit, backgroundColor: "#0d6efd", stack: "f" },
            { order: 2, label: "Best case", data: data.bars.best_case, backgroundColor: "#6ea8fe", stack: "f" },
            { order: 2, label: "Pipeline", data: data.bars.pipeline, backgroundColor: "#ced4da", stack: "f" },
            { order: 1, label: "Quota", data: data.bars.quota, type: "line", stack: "quota", borderColor: "#dc3545", backgroundColor: "#dc3545", showLine: false, pointStyle: "line", pointRadius: 14, borderWidth: 3 },
          ],
        },
        options: {
          responsive: true,
          scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: money } } },
          plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${money(c.parsed.y)}` } } },
        },
      });
    }
    const trend = document.getElementById("forecast-trend");
    if (trend && data.trend.labels.length) {
      const flat = (v) => data.trend.labels.map(() => v);
      new Chart(trend, {
        type: "line",
        data: {
          labels: data.trend.labels,
          datasets: [
            { label: "Closed won", data: data.trend.closed, borderColor: "#198754" },
            { label: "Commit forecast", data: data.trend.commit_forecast, borderColor: "#0d6efd" },
            { label: "Best case forecast", data: data.trend.best_case_forecast, borderColor: "#6ea8fe" },
            { label: "Final / current closed won", data: flat(data.trend.final), borderColor: "#6c757d", borderDash: [4, 4], pointRadius: 0 },
            { label: "Quota", data: flat(data.trend.quota), borderColor: "#dc3545", borderDash: [2, 2], pointRadius: 0 },
          ],
        },
        options: { responsive: true, scales: { y: { ticks: { callback: money } } } },
      });
    }
  }

  const report = readJson("report-chart-data");
  const stageChart = document.getElementById("time-in-stage-chart");
  if (report && stageChart) {
    new Chart(stageChart, {
      type: "bar",
      data: { labels: report.stages, datasets: [{ label: "Median days in stage", data: report.median_days, backgroundColor: "#0d6efd" }] },
      options: { indexAxis: "y", responsive: true },
    });
  }
})();
