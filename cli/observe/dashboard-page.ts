// The dashboard's one page: markup, style and script, served as is. The graph is cytoscape with
// its built-in breadthfirst layout, the time series uPlot; both are served from the installed
// packages. The script polls /api/view every 2 s and the open drill-down with it.

/** How often the page asks for new figures, in ms (the server scrapes at the same pace). */
export const PAGE_REFRESH_MS = 2000;

/** The HTML of the dashboard. */
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>weft dashboard</title>
<link rel="stylesheet" href="/assets/uPlot.min.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1em; background: #1d2330; color: #fff; }
  header h1 { font-size: 1.2em; margin: 0; }
  #errors { color: #ffb4a8; }
  main { display: grid; grid-template-columns: minmax(380px, 1fr) minmax(420px, 1.2fr); gap: 1em; padding: 1em; }
  #graph { height: 420px; background: #fff; border: 1px solid #d5d9e0; border-radius: 6px; }
  table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1em; }
  th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e3e6eb; white-space: nowrap; }
  th { font-weight: 600; background: #eef0f4; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #f0f4ff; }
  h2 { font-size: 1.05em; margin: .2em 0 .5em; }
  h3 { font-size: 1em; margin: .8em 0 .4em; }
  small { color: #5b6475; font-weight: normal; }
  #detail { grid-column: 1 / span 2; background: #fff; border: 1px solid #d5d9e0; border-radius: 6px; padding: .8em; }
  .bad { color: #b3261e; font-weight: 600; }
</style>
</head>
<body>
<header><h1>weft</h1><span>namespace <b id="ns">-</b></span><span id="updated">loading...</span><span id="errors"></span></header>
<main>
  <section><h2>Service graph <small>caller &rarr; service, rates over <span class="window">-</span></small></h2><div id="graph"></div></section>
  <section>
    <h2>Services <small>over <span class="window">-</span>; click one for its endpoints</small></h2>
    <table id="services"><thead><tr><th>service</th><th>pods</th><th>rps</th><th>success</th><th>p50</th><th>p95</th><th>p99</th><th>mTLS</th><th>requests</th></tr></thead><tbody></tbody></table>
    <h2>Edges</h2>
    <table id="edges"><thead><tr><th>from</th><th>to</th><th>rps</th><th>success</th><th>mTLS</th><th>requests</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="detail" hidden>
    <h2 id="detail-title"></h2>
    <div id="chart"></div>
    <h3>Endpoints <small>as each caller's balancer sees them (EWMA latency, ejection)</small></h3>
    <table id="endpoints"><thead><tr><th>caller</th><th>endpoint</th><th>pod</th><th>ready</th><th>state</th><th>EWMA</th><th>ejected</th><th>in flight</th><th>requests</th><th>failures</th></tr></thead><tbody></tbody></table>
    <h3>Recent failures</h3>
    <table id="failures"><thead><tr><th>time</th><th>pod</th><th>direction</th><th>method</th><th>path</th><th>status</th><th>error</th><th>duration</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script src="/assets/cytoscape.min.js"></script>
<script src="/assets/uPlot.iife.min.js"></script>
<script>
"use strict";
var REFRESH_MS = ${PAGE_REFRESH_MS};
var cy = cytoscape({
  container: document.getElementById("graph"),
  elements: [],
  wheelSensitivity: 0.3,
  style: [
    { selector: "node", style: { "label": "data(label)", "text-wrap": "wrap", "text-valign": "bottom", "text-margin-y": 6, "font-size": 11, "width": 34, "height": 34, "background-color": "data(color)", "border-width": 2, "border-color": "#1d2330" } },
    { selector: "node:selected", style: { "border-color": "#2f6bff", "border-width": 4 } },
    { selector: "edge", style: { "label": "data(label)", "font-size": 10, "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 2, "line-color": "data(color)", "target-arrow-color": "data(color)", "text-background-color": "#fff", "text-background-opacity": 0.8 } }
  ]
});
window.weftGraph = cy;
var selected = null;
var chart = null;
var lastView = null;
function pct(x) { return x === null || x === undefined ? "-" : (x * 100).toFixed(2) + "%"; }
function fix(x, d, unit) { return x === null || x === undefined ? "-" : x.toFixed(d) + (unit || ""); }
function colorOf(rate) { return rate === null || rate === undefined ? "#aab2c0" : rate >= 0.99 ? "#3fa66b" : rate >= 0.9 ? "#e0a526" : "#d2473b"; }
function fill(table, rows, onClick) {
  var body = document.querySelector(table + " tbody");
  body.textContent = "";
  rows.forEach(function (row) {
    var tr = document.createElement("tr");
    row.cells.forEach(function (text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); });
    if (row.key !== undefined) tr.dataset.key = row.key;
    if (row.bad) tr.className = "bad";
    if (onClick) tr.addEventListener("click", function () { onClick(row.key); });
    body.appendChild(tr);
  });
}
function render(view) {
  lastView = view;
  document.getElementById("ns").textContent = view.namespace;
  document.getElementById("updated").textContent = "updated " + new Date(view.updated).toLocaleTimeString();
  document.getElementById("errors").textContent = view.errors.length ? view.errors.length + " sidecar(s) not answering" : "";
  var windowText = view.stat.windowSeconds > 0 ? Math.round(view.stat.windowSeconds) + "s" : "(first scrape)";
  document.querySelectorAll(".window").forEach(function (el) { el.textContent = windowText; });
  var wanted = {};
  var services = {};
  view.stat.services.forEach(function (s) { services[s.service] = s; wanted[s.service] = true; });
  view.stat.edges.forEach(function (e) { wanted[e.from] = true; wanted[e.to] = true; });
  var changed = false;
  cy.batch(function () {
    Object.keys(wanted).forEach(function (name) {
      var s = services[name];
      var data = { id: name, service: !!s, rps: s ? s.rps : null, successRate: s ? s.successRate : null, requests: s ? s.requests : 0,
        label: s ? name + "\\n" + fix(s.rps, 2) + " rps \\u00b7 " + pct(s.successRate) : name, color: s ? colorOf(s.successRate) : "#aab2c0" };
      var node = cy.getElementById(name);
      if (node.empty()) { cy.add({ group: "nodes", data: data }); changed = true; } else node.data(data);
    });
    var edgeIds = {};
    view.stat.edges.forEach(function (e) {
      var id = e.from + "->" + e.to;
      edgeIds[id] = true;
      var data = { id: id, source: e.from, target: e.to, rps: e.rps, successRate: e.successRate, requests: e.requests, mtlsShare: e.mtlsShare,
        label: fix(e.rps, 2) + " rps \\u00b7 " + pct(e.successRate), color: colorOf(e.successRate) };
      var edge = cy.getElementById(id);
      if (edge.empty()) { cy.add({ group: "edges", data: data }); changed = true; } else edge.data(data);
    });
    cy.elements().forEach(function (el) {
      if ((el.isNode() && !wanted[el.id()]) || (el.isEdge() && !edgeIds[el.id()])) { el.remove(); changed = true; }
    });
  });
  if (changed) cy.layout({ name: "breadthfirst", directed: true, padding: 30, spacingFactor: 1.1, animate: false }).run();
  fill("#services", view.stat.services.map(function (s) {
    return { key: s.service, bad: s.successRate !== null && s.successRate < 0.99,
      cells: [s.service, String(s.pods), fix(s.rps, 2), pct(s.successRate), fix(s.p50Ms, 1, " ms"), fix(s.p95Ms, 1, " ms"), fix(s.p99Ms, 1, " ms"), pct(s.mtlsShare), String(s.requests)] };
  }), select);
  fill("#edges", view.stat.edges.map(function (e) {
    return { key: e.to, bad: e.successRate !== null && e.successRate < 0.99, cells: [e.from, e.to, fix(e.rps, 2), pct(e.successRate), pct(e.mtlsShare), String(e.requests)] };
  }), select);
  document.body.dataset.updated = String(view.updated);
  if (selected) drawChart();
}
function drawChart() {
  var points = (lastView && lastView.series[selected]) || [];
  var data = [points.map(function (p) { return p.t; }), points.map(function (p) { return p.rps; }),
    points.map(function (p) { return p.successRate === null ? null : p.successRate * 100; }), points.map(function (p) { return p.p99Ms; })];
  var el = document.getElementById("chart");
  if (!chart) {
    chart = new uPlot({ width: Math.max(400, el.clientWidth - 10), height: 180, title: "",
      // The last 4 minutes (120 points at the refresh pace), even while only a few points exist.
      scales: { x: { time: true, range: function (u, min, max) { return [max - 240, max]; } }, "%": { range: [0, 100] } },
      series: [{}, { label: "rps", stroke: "#2f6bff", points: { show: true } }, { label: "success %", stroke: "#3fa66b", scale: "%" }, { label: "p99 ms", stroke: "#d2473b" }],
      axes: [{}, {}, { side: 1, scale: "%" }] }, data, el);
  } else chart.setData(data);
}
function select(name) {
  selected = name;
  cy.$(":selected").unselect();
  cy.getElementById(name).select();
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = name;
  if (chart) { chart.destroy(); chart = null; }
  drawChart();
  loadDetail();
}
function loadDetail() {
  if (!selected) return;
  var name = selected;
  fetch("/api/service/" + encodeURIComponent(name)).then(function (r) { return r.json(); }).then(function (d) {
    if (name !== selected) return;
    fill("#endpoints", d.endpoints.map(function (e) {
      return { bad: e.ejected, cells: [e.caller, e.address, e.pod, e.ready ? "yes" : "no", e.state, fix(e.latencyMs, 2, " ms"), e.ejected ? "EJECTED" : "no", String(e.outstanding), String(e.requests), String(e.failures)] };
    }));
    fill("#failures", d.failures.map(function (f) {
      return { bad: true, cells: [new Date(f.time).toLocaleTimeString(), f.pod, f.direction, f.method, f.path, String(f.status), f.error || "-", fix(f.durationMs, 1, " ms")] };
    }));
    document.getElementById("detail").dataset.loaded = name;
  });
}
cy.on("tap", "node", function (event) { select(event.target.id()); });
function refresh() {
  fetch("/api/view").then(function (r) { return r.json(); }).then(render).then(loadDetail).catch(function (err) {
    document.getElementById("errors").textContent = "dashboard unreachable: " + err.message;
  }).finally(function () { setTimeout(refresh, REFRESH_MS); });
}
refresh();
</script>
</body>
</html>
`;
