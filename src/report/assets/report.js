// faultline report: the canvas timeline (zoom, pan, hover, click for details) and the links
// from anomalies into it. Data comes from the JSON block; every value from the history is
// shown with textContent only. The page records its state on <html data-report-status>:
// "rendered" once drawn, "error" (with the message in #report-errors) if anything throws.
(function () {
  "use strict";
  var root = document.documentElement;
  var failed = false;

  function recordError(msg) {
    failed = true;
    root.setAttribute("data-report-status", "error");
    var box = document.getElementById("report-errors");
    if (box) {
      box.hidden = false;
      var p = document.createElement("p");
      p.textContent = "Report script error: " + msg;
      box.appendChild(p);
    }
  }
  window.addEventListener("error", function (e) {
    recordError((e && e.message ? e.message : String(e)) + " (line " + (e && e.lineno || 0) + ")");
  });
  window.addEventListener("unhandledrejection", function (e) {
    recordError("unhandled rejection: " + (e && e.reason));
  });

  var COLOURS = ["#2e9d4f", "#d6453d", "#e0a030"];
  var OUTCOME = ["ok", "fail", "info"];
  var FAULT_COLOURS = { partition: "#7e57c2", kill: "#546e7a", pause: "#1e88e5", delay: "#00897b", drop: "#8d6e63" };
  var GUTTER = 84, AXIS = 26;

  function faultColour(kind) { return FAULT_COLOURS[kind] || "#9e9d24"; }

  function fmtTime(us) {
    var s = us / 1e6;
    return s.toFixed(s < 10 ? 4 : 3) + " s";
  }

  function fmtDur(us) {
    if (us >= 1e6) return (us / 1e6).toFixed(3) + " s";
    if (us >= 1e3) return (us / 1e3).toFixed(2) + " ms";
    return us + " µs";
  }

  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var ms = [1, 2, 5, 10];
    for (var i = 0; i < ms.length; i++) if (ms[i] * p >= raw) return ms[i] * p;
    return 10 * p;
  }

  function main() {
    var dataEl = document.getElementById("faultline-data");
    if (!dataEl) throw new Error("the report's data block is missing");
    var data = JSON.parse(dataEl.textContent);
    var tl = data.timeline;
    var ops = tl.ops, agg = tl.agg;
    var nOps = ops.idx.length, nLanes = Math.max(1, tl.lanes.length);
    var anomalies = new Set(data.anomaly_ops || []);
    var idxPos = new Map();
    for (var i = 0; i < nOps; i++) idxPos.set(ops.idx[i], i);

    // Per lane: the longest "short" op, and the long ops drawn separately, so a visible window
    // is found by binary search on invoke time.
    var tStart = tl.start || 0;
    var spanAll = Math.max(1, tl.end - tStart);
    var longLimit = spanAll / 50;
    var laneMaxDur = [], laneLong = [];
    for (var l = 0; l < nLanes; l++) {
      var maxDur = 0, longs = [];
      var a = tl.lane_start[l] || 0, b = tl.lane_start[l + 1] || 0;
      for (var j = a; j < b; j++) {
        var d = ops.t1[j] - ops.t0[j];
        if (d > longLimit) longs.push(j); else if (d > maxDur) maxDur = d;
      }
      laneMaxDur.push(maxDur);
      laneLong.push(longs);
    }
    var aggByLane = [];
    for (l = 0; l < nLanes; l++) aggByLane.push([]);
    for (i = 0; i < agg.lane.length; i++) aggByLane[agg.lane[i]].push(i);

    var wrap = document.getElementById("tl-wrap");
    var canvas = document.getElementById("tl-canvas");
    var tip = document.getElementById("tl-tip");
    var detail = document.getElementById("tl-detail");
    var rangeEl = document.getElementById("tl-range");
    var ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no 2d canvas context");
    var laneH = Math.max(4, Math.min(20, Math.floor(560 / nLanes)));
    var cssW = 800, cssH = AXIS + nLanes * laneH + 6;
    var view = { t0: tStart, t1: tStart + spanAll };
    var selected = -1, hovered = -1;
    var pending = false;

    function resize() {
      var dpr = window.devicePixelRatio || 1;
      cssW = Math.max(300, wrap.clientWidth || 800);
      canvas.style.width = cssW + "px";
      canvas.style.height = cssH + "px";
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      schedule();
    }

    function plotW() { return cssW - GUTTER - 4; }
    function xOf(t) { return GUTTER + (t - view.t0) / (view.t1 - view.t0) * plotW(); }
    function tOf(x) { return view.t0 + (x - GUTTER) / plotW() * (view.t1 - view.t0); }
    function laneY(l) { return AXIS + l * laneH; }

    function schedule() {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        try { draw(); } catch (e) { recordError(e && e.stack || e); }
      });
    }

    // The first op of lane l that can reach into the view.
    function firstVisible(l) {
      var lo = tl.lane_start[l], hi = tl.lane_start[l + 1];
      var from = view.t0 - laneMaxDur[l];
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (ops.t0[mid] < from) lo = mid + 1; else hi = mid;
      }
      return lo;
    }

    function draw() {
      var started = window.performance ? performance.now() : 0;
      var w = cssW, h = cssH;
      ctx.clearRect(0, 0, w, h);
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, w, h);
      // Lane stripes and labels.
      ctx.font = "11px sans-serif";
      ctx.textBaseline = "middle";
      for (var l = 0; l < nLanes; l++) {
        if (l % 2 === 1) {
          ctx.fillStyle = "#f6f7f9";
          ctx.fillRect(0, laneY(l), w, laneH);
        }
        if (laneH >= 9) {
          ctx.fillStyle = "#444";
          ctx.fillText(String(tl.lanes[l] || ""), 4, laneY(l) + laneH / 2, GUTTER - 8);
        }
      }
      // Fault bands across every lane.
      for (var f = 0; f < tl.faults.length; f++) {
        var band = tl.faults[f];
        var bx0 = Math.max(GUTTER, xOf(band.t0)), bx1 = Math.min(w, xOf(band.t1));
        if (bx1 < GUTTER || bx0 > w) continue;
        ctx.globalAlpha = 0.14;
        ctx.fillStyle = faultColour(band.kind);
        ctx.fillRect(bx0, AXIS, Math.max(1, bx1 - bx0), h - AXIS);
        ctx.globalAlpha = 0.9;
        ctx.fillRect(bx0, AXIS - 5, Math.max(1, bx1 - bx0), 4);
        ctx.globalAlpha = 1;
      }
      // Folded blocks and ops, as runs: a bar that touches or overlaps the previous bar of
      // the same kind on its lane extends it instead of adding a rectangle, so a frame costs
      // about one rectangle per visible gap, however many ops there are.
      var barH = Math.max(2, laneH - 2);
      // 0-2: ops by outcome; 3: folded blocks; 4, 5: their fail / info strips.
      var paths = [new Path2D(), new Path2D(), new Path2D(), new Path2D(), new Path2D(), new Path2D()];
      var runStart = [0, 0, 0, 0, 0, 0], runEnd = [-1, -1, -1, -1, -1, -1];
      var runY = 0, runH = [0, 0, 0, 0, 0, 0], runDy = [0, 0, 0, 0, 0, 0];
      function flush(kind) {
        if (runEnd[kind] > runStart[kind]) {
          paths[kind].rect(runStart[kind], runY + runDy[kind], runEnd[kind] - runStart[kind], runH[kind]);
        }
        runEnd[kind] = -1;
      }
      function bar(kind, x0, x1, dy, hh) {
        if (x1 < GUTTER || x0 > w) return;
        var px0 = Math.max(GUTTER, Math.floor(x0));
        var px1 = Math.min(w, Math.max(px0 + 1, Math.ceil(x1)));
        if (runEnd[kind] >= px0) {
          if (px1 > runEnd[kind]) runEnd[kind] = px1;
          return;
        }
        flush(kind);
        runStart[kind] = px0;
        runEnd[kind] = px1;
        runDy[kind] = dy;
        runH[kind] = hh;
      }
      var minLabelDur = 36 * (view.t1 - view.t0) / plotW();
      for (l = 0; l < nLanes; l++) {
        runY = laneY(l);
        var list = aggByLane[l];
        for (var k = 0; k < list.length; k++) {
          var q = list[k];
          if (agg.t1[q] < view.t0 || agg.t0[q] > view.t1) continue;
          var ax0 = xOf(agg.t0[q]), ax1 = xOf(agg.t1[q]);
          bar(3, ax0, ax1, 1, barH);
          if (agg.fail[q] + agg.info[q] > 0) bar(agg.fail[q] >= agg.info[q] ? 4 : 5, ax0, ax1, laneH - 3, 2);
        }
        for (var j = firstVisible(l), end = tl.lane_start[l + 1]; j < end && ops.t0[j] <= view.t1; j++) {
          bar(ops.out[j], xOf(ops.t0[j]), xOf(ops.t1[j]), 1, barH);
        }
        for (var kind = 0; kind < 6; kind++) flush(kind);
        var longs = laneLong[l];
        for (k = 0; k < longs.length; k++) {
          bar(ops.out[longs[k]], xOf(ops.t0[longs[k]]), xOf(ops.t1[longs[k]]), 1, barH);
          flush(ops.out[longs[k]]);
        }
      }
      ctx.globalAlpha = 0.35;
      ctx.fillStyle = COLOURS[0];
      ctx.fill(paths[3]);
      ctx.globalAlpha = 1;
      ctx.fillStyle = COLOURS[1];
      ctx.fill(paths[4]);
      ctx.fillStyle = COLOURS[2];
      ctx.fill(paths[5]);
      for (var o = 0; o < 3; o++) {
        ctx.fillStyle = COLOURS[o];
        ctx.fill(paths[o]);
      }
      // Labels inside bars wide enough to hold one (lanes whose ops are all too short to be
      // labelled at this zoom are skipped).
      if (laneH >= 12) {
        ctx.fillStyle = "#fff";
        ctx.font = "10px sans-serif";
        for (l = 0; l < nLanes; l++) {
          if (laneMaxDur[l] < minLabelDur && laneLong[l].length === 0) continue;
          end = tl.lane_start[l + 1];
          for (j = firstVisible(l); j < end && ops.t0[j] <= view.t1; j++) {
            if (ops.t1[j] - ops.t0[j] < minLabelDur) continue;
            var tx0 = Math.max(GUTTER, xOf(ops.t0[j])), tx1 = Math.min(w, xOf(ops.t1[j]));
            if (tx1 - tx0 < 36) continue;
            var label = tl.fs[ops.f[j]] + " " + (ops.r[j] || ops.v[j]);
            ctx.fillText(label, tx0 + 3, laneY(l) + laneH / 2, tx1 - tx0 - 6);
          }
        }
      }
      // Anomaly ops outlined; the hovered and selected ops emphasised.
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#111";
      anomalies.forEach(function (idx) {
        var p = idxPos.get(idx);
        if (p !== undefined) outline(p, "#111", 2);
      });
      if (hovered >= 0) outline(hovered, "#0b57d0", 2);
      if (selected >= 0) outline(selected, "#0b57d0", 3);
      drawAxis();
      if (rangeEl) rangeEl.textContent = "showing " + fmtTime(view.t0) + " – " + fmtTime(view.t1);
      // How long the last frame took, for tests and for anyone wondering.
      if (window.performance) canvas.setAttribute("data-draw-ms", (performance.now() - started).toFixed(1));
    }

    function outline(p, colour, width) {
      var x0 = xOf(ops.t0[p]), x1 = xOf(ops.t1[p]);
      if (x1 < GUTTER || x0 > cssW) return;
      x0 = Math.max(GUTTER, x0);
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.strokeRect(x0 - 1, laneY(ops.lane[p]), Math.max(3, x1 - x0) + 2, laneH);
    }

    function drawAxis() {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, cssW, AXIS - 6);
      ctx.fillStyle = "#333";
      ctx.strokeStyle = "#999";
      ctx.lineWidth = 1;
      ctx.font = "11px sans-serif";
      ctx.textBaseline = "top";
      var span = view.t1 - view.t0;
      var step = niceStep(span / Math.max(2, plotW() / 110));
      var first = Math.ceil(view.t0 / step) * step;
      for (var t = first, n = 0; t <= view.t1 && n < 200; t += step, n++) {
        var x = xOf(t);
        ctx.beginPath();
        ctx.moveTo(x + 0.5, AXIS - 10);
        ctx.lineTo(x + 0.5, AXIS - 6);
        ctx.stroke();
        var s = t / 1e6;
        var digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step / 1e6))));
        ctx.fillText(s.toFixed(digits) + "s", x + 2, 2);
      }
      ctx.textBaseline = "middle";
    }

    // The op (or folded block) under a point: {op: j} or {agg: q} or null.
    function pick(x, y) {
      if (x < GUTTER || y < AXIS) return null;
      var l = Math.floor((y - AXIS) / laneH);
      if (l < 0 || l >= nLanes) return null;
      var t = tOf(x), slack = 3 * (view.t1 - view.t0) / plotW();
      var best = -1;
      var end = tl.lane_start[l + 1];
      for (var j = firstVisible(l); j < end && ops.t0[j] <= t + slack; j++) {
        if (ops.t1[j] >= t - slack) {
          if (best < 0 || anomalies.has(ops.idx[j]) || Math.abs(ops.t0[j] - t) < Math.abs(ops.t0[best] - t)) best = j;
        }
      }
      var longs = laneLong[l];
      for (var k = 0; best < 0 && k < longs.length; k++) {
        if (ops.t0[longs[k]] <= t + slack && ops.t1[longs[k]] >= t - slack) best = longs[k];
      }
      if (best >= 0) return { op: best };
      var list = aggByLane[l];
      for (k = 0; k < list.length; k++) {
        var q = list[k];
        if (agg.t0[q] <= t + slack && agg.t1[q] >= t - slack) return { agg: q };
      }
      return null;
    }

    function opLines(j) {
      var lines = [
        ["op", "#" + ops.idx[j] + (ops.ci[j] >= 0 ? " (completed at event " + ops.ci[j] + ")" : " (never completed)")],
        ["process", "p" + ops.p[j]],
        ["function", tl.fs[ops.f[j]]],
        ["outcome", OUTCOME[ops.out[j]]]
      ];
      if (ops.key[j]) lines.push(["key", ops.key[j]]);
      lines.push(["invoked with", ops.v[j] || "null"]);
      if (ops.r[j]) lines.push(["returned", ops.r[j]]);
      lines.push(["invoked at", fmtTime(ops.t0[j])]);
      lines.push(["latency", ops.ci[j] >= 0 ? fmtDur(ops.t1[j] - ops.t0[j]) : "—"]);
      if (ops.node[j]) lines.push(["node", ops.node[j]]);
      if (ops.err[j]) lines.push(["error", ops.err[j]]);
      if (anomalies.has(ops.idx[j])) lines.push(["anomaly", "cited by an anomaly above"]);
      return lines;
    }

    function aggLines(q) {
      return [
        ["folded ops", String(agg.n[q])],
        ["ok / fail / info", agg.ok[q] + " / " + agg.fail[q] + " / " + agg.info[q]],
        ["ops", "#" + agg.i0[q] + " … #" + agg.i1[q]],
        ["from", fmtTime(agg.t0[q])],
        ["to", fmtTime(agg.t1[q])]
      ];
    }

    function fillTable(el, lines) {
      while (el.firstChild) el.removeChild(el.firstChild);
      var table = document.createElement("table");
      for (var i = 0; i < lines.length; i++) {
        var tr = document.createElement("tr");
        var th = document.createElement("th");
        th.textContent = lines[i][0];
        var td = document.createElement("td");
        td.textContent = lines[i][1];
        tr.appendChild(th);
        tr.appendChild(td);
        table.appendChild(tr);
      }
      el.appendChild(table);
    }

    function showDetail(j) {
      selected = j;
      fillTable(detail, opLines(j));
      schedule();
    }

    function jumpTo(idx) {
      var p = idxPos.get(idx);
      if (p === undefined) {
        fillTable(detail, [["op", "#" + idx], ["note", "not a client op drawn in this timeline"]]);
        return false;
      }
      var dur = Math.max(1000, ops.t1[p] - ops.t0[p]);
      var half = Math.max(dur * 4, spanAll / 2000);
      var mid = (ops.t0[p] + ops.t1[p]) / 2;
      view.t0 = mid - half;
      view.t1 = mid + half;
      showDetail(p);
      return true;
    }

    function zoom(factor, atX) {
      var t = tOf(atX);
      var span = (view.t1 - view.t0) * factor;
      span = Math.max(10, Math.min(spanAll * 4, span));
      var frac = (atX - GUTTER) / plotW();
      view.t0 = t - frac * span;
      view.t1 = view.t0 + span;
      schedule();
    }

    function reset() {
      view.t0 = tStart - spanAll * 0.01;
      view.t1 = tStart + spanAll * 1.01;
      schedule();
    }

    // Mouse: wheel zooms around the pointer, drag pans, hover shows, click pins.
    var drag = null;
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = canvas.getBoundingClientRect();
      zoom(Math.exp(e.deltaY * 0.0015), e.clientX - r.left);
    }, { passive: false });
    canvas.addEventListener("mousedown", function (e) {
      drag = { x: e.clientX, t0: view.t0, t1: view.t1, moved: false };
    });
    window.addEventListener("mouseup", function (e) {
      if (drag && !drag.moved) {
        var r = canvas.getBoundingClientRect();
        var hit = pick(e.clientX - r.left, e.clientY - r.top);
        if (hit && hit.op !== undefined) showDetail(hit.op);
        else if (hit) fillTable(detail, aggLines(hit.agg));
      }
      drag = null;
    });
    canvas.addEventListener("mousemove", function (e) {
      var r = canvas.getBoundingClientRect();
      var x = e.clientX - r.left, y = e.clientY - r.top;
      if (drag) {
        var dx = e.clientX - drag.x;
        if (Math.abs(dx) > 2) drag.moved = true;
        var dt = dx / plotW() * (drag.t1 - drag.t0);
        view.t0 = drag.t0 - dt;
        view.t1 = drag.t1 - dt;
        tip.hidden = true;
        schedule();
        return;
      }
      var hit = pick(x, y);
      var newHover = hit && hit.op !== undefined ? hit.op : -1;
      if (newHover !== hovered) { hovered = newHover; schedule(); }
      if (!hit) { tip.hidden = true; return; }
      var lines = hit.op !== undefined ? opLines(hit.op) : aggLines(hit.agg);
      fillTable(tip, lines.slice(0, 9));
      tip.hidden = false;
      tip.style.left = Math.min(x + 14, cssW - 260) + "px";
      tip.style.top = (y + 14) + "px";
    });
    canvas.addEventListener("mouseleave", function () {
      tip.hidden = true;
      if (hovered >= 0) { hovered = -1; schedule(); }
    });
    document.querySelectorAll("[data-zoom]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var which = btn.getAttribute("data-zoom");
        if (which === "reset") reset();
        else zoom(which === "in" ? 0.5 : 2, GUTTER + plotW() / 2);
      });
    });
    document.querySelectorAll("[data-op]").forEach(function (el) {
      el.addEventListener("click", function (e) {
        var idx = Number(el.getAttribute("data-op"));
        if (!isFinite(idx)) return;
        e.preventDefault();
        jumpTo(idx);
        var section = document.getElementById("timeline");
        if (section && section.scrollIntoView) section.scrollIntoView({ block: "start" });
      });
    });
    window.addEventListener("resize", resize);

    reset();
    resize();
    draw();
  }

  // Self-check of the linearizability view, read by the browser test: how many core ops are
  // drawn, and how many pairs of bar labels overlap (measured boxes; must be none).
  function measureLanes() {
    var overlaps = 0;
    var core = 0;
    Array.prototype.forEach.call(document.querySelectorAll(".linview svg.lanes"), function (svg) {
      core += svg.querySelectorAll("g.core").length;
      var boxes = [];
      Array.prototype.forEach.call(svg.querySelectorAll("g > text"), function (t) {
        if (!t.textContent) return;
        var r = t.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) boxes.push(r);
      });
      for (var i = 0; i < boxes.length; i++) {
        for (var j = i + 1; j < boxes.length; j++) {
          var a = boxes[i], b = boxes[j];
          if (a.left < b.right - 0.5 && b.left < a.right - 0.5 &&
              a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) overlaps++;
        }
      }
    });
    root.setAttribute("data-core-ops", String(core));
    root.setAttribute("data-label-overlaps", String(overlaps));
  }

  try {
    main();
    measureLanes();
    if (!failed) root.setAttribute("data-report-status", "rendered");
  } catch (e) {
    recordError(e && e.stack ? e.stack : String(e));
  }
})();
