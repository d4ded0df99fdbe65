// donkey console: follows one Server-Sent Events stream and swaps in the
// fragments the server rendered (and escaped). No polling, no markup built
// from call data here.
(function () {
  "use strict";
  var body = document.body;
  // set once per page load: a reload would make a new one
  body.dataset.loadMarker = String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  body.dataset.updates = "0";
  var graphUrl = "";
  var counts = null;

  // A node's <title> is "diagram/STATE" (donkey.dsm.graph.node_id), or just
  // "STATE" in the drawing made without Graphviz.
  function stateOf(node) {
    var title = node.querySelector("title");
    var text = title ? title.textContent : "";
    return text.slice(text.lastIndexOf("/") + 1);
  }

  function highlight(state) {
    var svg = document.querySelector("#graph svg");
    if (!svg) return;
    var nodes = svg.querySelectorAll("g.node");
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].classList.toggle("current", stateOf(nodes[i]) === state);
    }
  }

  function showCounts() {
    var svg = document.querySelector("#graph svg");
    if (!svg || !counts) return;
    var old = svg.querySelectorAll("text.count");
    for (var j = 0; j < old.length; j++) old[j].remove();
    var nodes = svg.querySelectorAll("g.node");
    for (var i = 0; i < nodes.length; i++) {
      var n = counts[stateOf(nodes[i])] || 0;
      nodes[i].classList.toggle("busy", n > 0);
      if (!n) continue;
      var box = nodes[i].getBBox();
      var t = document.createElementNS("http://www.w3.org/2000/svg", "text");
      t.setAttribute("class", "count");
      t.setAttribute("x", box.x + box.width + 4);
      t.setAttribute("y", box.y + 12);
      t.textContent = String(n);
      nodes[i].appendChild(t);
    }
  }

  function loadGraph(url, then) {
    if (!url || url === graphUrl) { then(); return; }
    graphUrl = url;
    fetch(url).then(function (r) { return r.text(); }).then(function (svg) {
      var box = document.getElementById("graph");
      if (box) box.innerHTML = svg;  // our own server's drawing of the script
      then();
    });
  }

  function apply(msg) {
    var html = msg.html || {};
    for (var id in html) {
      var el = document.getElementById(id);
      if (el) el.innerHTML = html[id];  // escaped by the server
    }
    if (msg.counts) counts = msg.counts;
    if (msg.state !== undefined) {
      body.dataset.state = msg.state;
      var diag = document.getElementById("diagram");
      if (diag && msg.diagram !== undefined) diag.textContent = msg.diagram;
    }
    body.classList.toggle("ended", !!msg.ended);
    body.classList.toggle("alarmed", !!msg.alarm);
    loadGraph(msg.graph || body.dataset.graph, function () {
      if (msg.state !== undefined) highlight(msg.state);
      showCounts();
    });
    body.dataset.updates = String(Number(body.dataset.updates) + 1);
  }

  var live = document.getElementById("live");
  if (body.dataset.events && window.EventSource) {
    var source = new EventSource(body.dataset.events);
    source.onopen = function () { live.textContent = "live"; live.className = "live on"; };
    source.onerror = function () { live.textContent = "reconnecting…"; live.className = "live"; };
    source.onmessage = function (e) { apply(JSON.parse(e.data)); };
  }
  loadGraph(body.dataset.graph, function () {
    if (body.dataset.state) highlight(body.dataset.state);
  });
})();
