// actprof's report and timeline pages: the index sorts and filters, a
// layer's detail is drawn from the data block only when it is opened
// (#L<i>), so that the page never draws every layer at once.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var H = D.head, L = D.layers;
  var tip = document.getElementById("tip");
  var DEAD = "#d62728", NAN = "#111", DORMANT = "#ff7f0e", SATURATED = "#e377c2", CONSTANT = "#7f7f7f";

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function num(f) {
    if (f === 0) return "0";
    var a = Math.abs(f);
    if (a >= 1e-3 && a < 1e6) return String(+f.toPrecision(4));
    return f.toExponential(2);
  }
  function numOrDash(f) { return f === null || f === undefined ? "&ndash;" : num(f); }
  function pct(n, of) {
    if (!of || !n) return "0%";
    var f = 100 * n / of;
    return f < 0.1 ? "<0.1%" : f.toFixed(1) + "%";
  }

  // Tooltip.
  function showTip(ev, html) {
    tip.innerHTML = html;
    tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = ev.clientX - w - 10;
    if (y + h > window.innerHeight - 4) y = ev.clientY - h - 10;
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function hideTip() { tip.hidden = true; }

  // Viridis, as six stops, for log10 rate levels 1..255; level 0 is dead.
  var STOPS = [[68, 1, 84], [65, 68, 135], [42, 120, 142], [34, 168, 132], [122, 209, 81], [253, 231, 37]];
  function colour(lv) {
    if (lv === 0) return DEAD;
    var t = (lv - 1) / 254 * (STOPS.length - 1), k = Math.min(Math.floor(t), STOPS.length - 2), f = t - k;
    var a = STOPS[k], b = STOPS[k + 1], c = [0, 1, 2].map(function (j) { return Math.round(a[j] + f * (b[j] - a[j])); });
    return "rgb(" + c.join(",") + ")";
  }
  function levelRate(lv) { return lv === 0 ? 0 : Math.pow(10, H.lo * (1 - (lv - 1) / 254)); }
  function b64(s) {
    var bin = atob(s || ""), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // Plots with data-n positions: the pointer names the position, a click
  // opens the layer (by-depth plots).
  Array.prototype.forEach.call(document.querySelectorAll("svg.plot[data-n]"), function (svg) {
    var n = +svg.dataset.n, x0 = +svg.dataset.x0, pw = +svg.dataset.pw;
    function at(ev) {
      var r = svg.getBoundingClientRect(), x = (ev.clientX - r.left) * (svg.viewBox.baseVal.width / r.width);
      var i = Math.floor((x - x0) / pw * n);
      return i >= 0 && i < n ? i : -1;
    }
    svg.addEventListener("mousemove", function (ev) {
      var i = at(ev);
      if (i < 0) return hideTip();
      showTip(ev, plotTip(svg.id, i));
    });
    svg.addEventListener("mouseleave", hideTip);
    svg.addEventListener("click", function (ev) {
      var i = at(ev);
      if (i >= 0 && H.kind === "report") location.hash = "#L" + i;
    });
  });
  function plotTip(id, i) {
    if (H.kind === "timeline") {
      var t = D.model;
      return "<b>" + esc(H.labels[i]) + "</b><br>dead " + num(t.dead_frac[i]) + " · rare " + num(t.rare_frac[i]) +
        (t.dormant_frac ? " · dormant " + numOrDash(t.dormant_frac[i]) : "") + "<br>Pr[y&gt;0] " + num(t.mean_activation_probability[i]);
    }
    var l = L[i];
    return "<b>" + i + ": " + esc(l.name) + "</b><br>Pr[y&gt;0] " + num(l.p) + "<br>dead " + l.dead + " of " + l.units + " (" + pct(l.dead, l.units) + ")" +
      (l.st ? "<br>dormant " + l.st.dormant + " (" + pct(l.st.dormant, l.units) + ")" : "");
  }

  // The index: sort by a column (numbers descending first, names
  // ascending), filter by name and by alerts.
  var table = document.getElementById("layers"), tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var filter = document.getElementById("filter"), alertsOnly = document.getElementById("alertsonly"), shown = document.getElementById("shown");
  function key(i, k) {
    var l = L[i];
    if (k === "i") return i;
    if (k === "name") return l.name;
    if (k === "deadf") return l.units ? l.dead / l.units : 0;
    if (k === "dormantf") return !l.st ? -1 : l.units ? l.st.dormant / l.units : 0;
    if (k === "dormant" || k === "constant") return l.st ? l.st[k] : -1;
    if (k === "saturated") return l.st && l.st.sat ? l.st.saturated : -1;
    var v = l[k];
    return typeof v === "number" ? v : -1;
  }
  var sortKey = "", sortDir = 0;
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () {
      var k = th.dataset.k;
      if (k === sortKey) sortDir = -sortDir;
      else { sortKey = k; sortDir = k === "name" || k === "i" ? 1 : -1; }
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      var order = rows.map(function (r) { return +r.id.slice(1); });
      order.sort(function (a, b) {
        var x = key(a, k), y = key(b, k);
        var c = typeof x === "string" ? x.localeCompare(y) : x - y;
        return c * sortDir || a - b;
      });
      var frag = document.createDocumentFragment();
      order.forEach(function (i) { frag.appendChild(document.getElementById("r" + i)); });
      tbody.appendChild(frag);
    });
  });
  function applyFilter() {
    var q = filter.value.toLowerCase(), only = alertsOnly.checked, n = 0;
    rows.forEach(function (r) {
      var l = L[+r.id.slice(1)];
      var ok = (!q || l.name.toLowerCase().indexOf(q) >= 0) && (!only || r.classList.contains("alert"));
      r.hidden = !ok;
      if (ok) n++;
    });
    shown.textContent = "showing " + n + " of " + rows.length + " layers";
  }
  filter.addEventListener("input", applyFilter);
  alertsOnly.addEventListener("change", applyFilter);
  tbody.addEventListener("click", function (ev) {
    var r = ev.target.closest("tr");
    if (r && ev.target.tagName !== "A") location.hash = "#L" + r.id.slice(1);
  });
  applyFilter();

  // A layer's detail.
  var detail = document.getElementById("detail");
  var pageParts = ["summary", "depth", "index"].map(function (id) { return document.getElementById(id); }).filter(Boolean);
  function nav(i) {
    var s = '<p class="nav"><a href="#index">&larr; all layers</a>';
    if (i > 0) s += ' · <a href="#L' + (i - 1) + '">&lsaquo; ' + esc(L[i - 1].name) + "</a>";
    if (i + 1 < L.length) s += ' · <a href="#L' + (i + 1) + '">' + esc(L[i + 1].name) + " &rsaquo;</a>";
    return s + "</p>";
  }
  function kv(pairs) {
    return '<table class="kv">' + pairs.map(function (p) { return "<tr><th>" + p[0] + "</th><td>" + p[1] + "</td></tr>"; }).join("") + "</table>";
  }
  function shape(l) {
    return "[" + l.shape.map(function (d, a) { return a === l.axis ? "(" + d + ")" : d; }).join(" ") + "]";
  }

  function histSVG(l) {
    var n = l.hist.length, W = 900, Ht = 200, x0 = 56, y0 = 20, pw = W - x0 - 12, ph = Ht - y0 - 40;
    var bw = pw / n, top = Math.max.apply(null, l.hist.concat([1]));
    var s = '<svg class="hist" width="' + W + '" height="' + Ht + '" viewBox="0 0 ' + W + " " + Ht + '">';
    s += '<text x="' + x0 + '" y="12" class="title">Units by log10 firing rate (dead units in their own bin at the left, always-on at the right)</text>';
    for (var g = 0; g <= 4; g++) {
      var gy = y0 + ph - ph * g / 4;
      s += '<line class="grid" x1="' + x0 + '" x2="' + (x0 + pw) + '" y1="' + gy + '" y2="' + gy + '"/><text class="ytick" x="' + (x0 - 4) + '" y="' + (gy + 4) + '">' + Math.round(top * g / 4) + "</text>";
    }
    for (var k = 0; k < n; k++) {
      var c = l.hist[k], h = c ? Math.max(1, ph * c / top) : 0, x = x0 + k * bw;
      var cls = k === 0 ? "bar dead" : k === n - 1 ? "bar on" : "bar";
      s += '<rect class="' + cls + '" data-k="' + k + '" x="' + (x + 1).toFixed(1) + '" y="' + (y0 + ph - h).toFixed(1) + '" width="' + Math.max(1, bw - 2).toFixed(1) + '" height="' + h.toFixed(1) + '"/>';
      if (c && n <= 60) s += '<text class="count" x="' + (x + bw / 2).toFixed(1) + '" y="' + (y0 + ph - h - 3).toFixed(1) + '">' + c + "</text>";
    }
    var lab = function (k, t) { return '<text class="xtick" x="' + (x0 + (k + 0.5) * bw).toFixed(1) + '" y="' + (y0 + ph + 14) + '">' + t + "</text>"; };
    s += lab(0, "dead") + lab(n - 1, "always");
    for (var d = Math.ceil(H.lo); d <= 0; d++) {
      var xb = x0 + (1 + (d - H.lo) / H.bw) * bw;
      if (d < 0 && d > H.lo) s += '<text class="xtick" x="' + xb.toFixed(1) + '" y="' + (y0 + ph + 14) + '">1e' + d + "</text>";
      s += '<line class="tick" x1="' + xb.toFixed(1) + '" x2="' + xb.toFixed(1) + '" y1="' + (y0 + ph) + '" y2="' + (y0 + ph + 4) + '"/>';
    }
    s += '<text class="xlabel" x="' + (x0 + pw) + '" y="' + (Ht - 4) + '">firing rate (log10 scale)</text></svg>';
    return s;
  }
  function histTip(l, k) {
    var n = l.hist.length, c = l.hist[k];
    if (k === 0) return c + " dead units (never fired)";
    if (k === n - 1) return c + " always-on units (fired on every observation)";
    var a = H.lo + (k - 1) * H.bw, b = a + H.bw;
    return c + " units with rate in [1e" + +a.toFixed(2) + ", 1e" + +b.toFixed(2) + ")";
  }

  // The strip: one cell a run of l.run units, coloured by the mean rate's
  // level; marked classes drawn over it.
  var MARKS = [["dead", DEAD, "dead (never fired)"], ["NaN", NAN, "saw NaN"], ["dormant", DORMANT, "dormant"],
    ["saturated", SATURATED, "saturated"], ["constant", CONSTANT, "constant"]];
  function drawStrip(l, canvas) {
    var mean = b64(l.mean), minLv = l.min ? b64(l.min) : null, n = mean.length;
    var cols = Math.max(1, Math.min(n, 100)), cw = Math.max(4, Math.min(24, Math.floor(800 / cols))), ch = Math.min(cw, 14);
    var rowsN = Math.ceil(n / cols);
    canvas.width = cols * cw;
    canvas.height = Math.max(1, rowsN * ch);
    var g = canvas.getContext("2d");
    for (var k = 0; k < n; k++) {
      g.fillStyle = colour(mean[k]);
      g.fillRect((k % cols) * cw, Math.floor(k / cols) * ch, cw - 1, ch - 1);
    }
    var per = {};
    MARKS.forEach(function (m, mi) {
      var a = l.marks[m[0]];
      if (!a || !a.length) return;
      per[m[0]] = {};
      for (var j = 0; j + 1 < a.length; j += 2) {
        var c = a[j], u = a[j + 1], x = (c % cols) * cw, y = Math.floor(c / cols) * ch;
        per[m[0]][c] = u;
        var units = Math.min(l.run, l.units - c * l.run);
        g.fillStyle = m[1];
        if (m[0] === "dead") {
          var h = Math.max(2, Math.round((ch - 1) * u / units));
          g.fillRect(x, y + ch - 1 - h, cw - 1, h);
        } else if (m[0] === "NaN") {
          g.fillRect(x + cw / 2 - 2, y + ch / 2 - 2, 3, 3);
        } else {
          g.fillRect(x + (mi - 2) * Math.max(1, Math.floor(cw / 3)), y, Math.max(1, Math.floor(cw / 3)), Math.max(2, Math.floor(ch / 3)));
        }
      }
    });
    canvas.onmousemove = function (ev) {
      var r = canvas.getBoundingClientRect();
      var cx = Math.floor((ev.clientX - r.left) * canvas.width / r.width / cw), cy = Math.floor((ev.clientY - r.top) * canvas.height / r.height / ch);
      var c = cy * cols + cx;
      if (cx >= cols || c >= n) return hideTip();
      var first = c * l.run, last = Math.min(l.units, first + l.run) - 1;
      var s = first === last ? "<b>unit " + first + "</b>" : "<b>units " + first + "&ndash;" + last + "</b>";
      s += "<br>" + (mean[c] === 0 ? "rate 0 (dead)" : (first === last ? "rate &asymp; " : "mean rate &asymp; ") + num(levelRate(mean[c])));
      if (minLv && mean[c] !== 0) s += "<br>least rate &asymp; " + num(levelRate(minLv[c]));
      MARKS.forEach(function (m) {
        var u = per[m[0]] && per[m[0]][c];
        if (u) s += "<br>" + (first === last ? m[2] : u + " " + m[2]);
      });
      showTip(ev, s);
    };
    canvas.onmouseleave = hideTip;
  }
  function legend(l) {
    var s = '<p class="legend">colour: log10 firing rate, ';
    s += '<span class="ramp"></span> 1e' + H.lo + " to 1";
    MARKS.forEach(function (m) {
      if (l.marks[m[0]] && l.marks[m[0]].length) s += ' · <span class="sw" style="background:' + m[1] + '"></span> ' + m[2];
    });
    if (l.run > 1) s += " · one cell is " + l.run + " units (coloured by their mean rate; dead marks show the share of dead units)";
    return s + "</p>";
  }

  function reportLayer(i) {
    var l = L[i];
    var pairs = [["dtype", esc(l.dtype)], ["shape", shape(l) + " (unit axis in parentheses)"], ["units", l.units],
      ["observations per unit", l.obs], ["Pr[y&gt;0]", num(l.p)],
      ["dead", l.dead + " (" + pct(l.dead, l.units) + ")"], ["rare", l.rare + " (" + pct(l.rare, l.units) + ")"],
      ["always on", l.on + " (" + pct(l.on, l.units) + ")"], ["NaN", l.nan ? l.nan + " NaN values in " + l.nanUnits + " units" : "none"]];
    var st = l.st;
    if (st) {
      pairs.push(["dormant", st.dormant + " (" + pct(st.dormant, l.units) + "): mean |x| at most " + num(H.tau) + " of the layer's mean over units"]);
      pairs.push(["saturated", st.sat ? st.saturated + " (" + pct(st.saturated, l.units) + "): more than " + num(H.satAbove) + " of values x &le; " + num(st.sat[0]) + " or x &ge; " + num(st.sat[1]) : "not counted (no saturation range)"]);
      pairs.push(["constant", st.constant + " (" + pct(st.constant, l.units) + "): one value on every observation"]);
      if (H.window) pairs.push(["window-dead", st.windowDead + " (" + pct(st.windowDead, l.units) + "): silent on the last " + H.window + " observations"]);
      pairs.push(["values", st.min === null ? "no finite value" : "from " + num(st.min) + " to " + num(st.max)]);
      if (st.pinf || st.ninf) pairs.push(["infinities", st.pinf + " +Inf, " + st.ninf + " &minus;Inf"]);
      pairs.push(["mean L0", num(st.l0.mean) + " units fire on an observation (of " + l.units + ")"]);
    }
    if (l.src) pairs.push(["source", esc(l.src)]);
    var s = nav(i) + "<h2>" + i + ": " + esc(l.name) + "</h2>" + kv(pairs);
    s += "<h3>Firing rates</h3>" + histSVG(l);
    s += "<h3>Units</h3>" + legend(l) + '<div class="strip"><canvas id="strip"></canvas></div>';
    if (st) s += "<h3>Values</h3>" + valueSVG(st) + "<h3>Units firing per observation (L0)</h3>" + l0SVG(l, st.l0);
    s += "<h3>Unit lists</h3>";
    l.lists.forEach(function (x) {
      s += '<div class="list" data-what="' + esc(x.what) + '"><b>' + esc(x.what) + " (" + x.n + ")</b>: " + (x.n ? esc(x.text) : "none") + "</div>";
      if (x.rows && x.rows.length) {
        s += '<div class="urows" data-what="' + esc(x.what) + '">unit <i>mean</i> <i>mean |x|</i>' + (x.n > x.rows.length ? " of the first " + x.rows.length : "") + ": " +
          x.rows.map(function (r) { return '<span class="u"><b>' + r[0] + "</b> <i>" + numOrDash(r[1]) + "</i> <i>" + num(r[2]) + "</i></span>"; }).join(" ") + "</div>";
      }
    });
    detail.innerHTML = s;
    drawStrip(l, document.getElementById("strip"));
    var hist = detail.querySelector("svg.hist");
    hist.addEventListener("mousemove", function (ev) {
      var k = ev.target.dataset && ev.target.dataset.k;
      if (k === undefined) return hideTip();
      showTip(ev, histTip(l, +k));
    });
    hist.addEventListener("mouseleave", hideTip);
    if (st) {
      barTips(detail.querySelector("svg.vhist"), st.vhist.length, function (k) { return vLabel(k) + ": " + st.vhist[k] + " values"; });
      barTips(detail.querySelector("svg.l0hist"), Math.max(1, st.l0.counts.length), function (k) {
        var a = st.l0.lo + k * st.l0.w, b = Math.min(l.units, a + st.l0.w - 1);
        return (st.l0.counts[k] || 0) + " observations on which " + (a === b ? a : a + "&ndash;" + b) + " units fired";
      });
    }
  }

  // The value histogram: fixed bins, H.vdec a decade of magnitude from
  // 10^H.vlo, negative values left of the zero bin H.vzero, positive
  // right, the outermost bins the overflow; bars on a log scale of counts
  // (values span many decades).
  function vEdge(k) { return Math.pow(10, H.vlo + k / H.vdec); }
  function vLabel(k) {
    var z = H.vzero, m = z - 1, top = num(vEdge(2 * H.vdec * -H.vlo));
    if (k === z) return "x = 0";
    if (k === z + 1) return "0 &lt; x &lt; " + num(vEdge(0));
    if (k === z - 1) return "&minus;" + num(vEdge(0)) + " &lt; x &lt; 0";
    if (k === 0) return "x &le; &minus;" + top;
    if (k === 2 * z) return "x &ge; " + top;
    if (k > z) return num(vEdge(k - z - 2)) + " &le; x &lt; " + num(vEdge(k - z - 1));
    return "&minus;" + num(vEdge(m - k)) + " &lt; x &le; &minus;" + num(vEdge(m - k - 1));
  }
  function decade(d) { return d === 0 ? "1" : "1e" + d; }
  function valueSVG(st) {
    var v = st.vhist, n = v.length, W = 900, Ht = 210, x0 = 56, y0 = 20, pw = W - x0 - 12, ph = Ht - y0 - 50, bw = pw / n, z = H.vzero;
    var top = Math.max.apply(null, v.concat([1])), lt = Math.log10(1 + top), yd = Math.ceil(Math.log10(top) / 4) || 1;
    var s = '<svg class="vhist" width="' + W + '" height="' + Ht + '" viewBox="0 0 ' + W + " " + Ht + '"><text x="' + x0 + '" y="12" class="title">Values: count by magnitude, negative left, zero in the centre, positive right (log scale of counts)</text>';
    // grid lines at powers of ten of the counts
    for (var g = 0; Math.pow(10, g) <= top; g += yd) {
      var gy = y0 + ph - ph * Math.log10(1 + Math.pow(10, g)) / lt;
      s += '<line class="grid" x1="' + x0 + '" x2="' + (x0 + pw) + '" y1="' + gy.toFixed(1) + '" y2="' + gy.toFixed(1) + '"/><text class="ytick" x="' + (x0 - 4) + '" y="' + (gy + 4).toFixed(1) + '">' + (g ? "1e" + g : "1") + "</text>";
    }
    for (var k = 0; k < n; k++) {
      var c = v[k], h = c ? Math.max(1, ph * Math.log10(1 + c) / lt) : 0, x = x0 + k * bw;
      var cls = k === z ? "bar zero" : k < z ? "bar neg" : "bar";
      if (c) s += '<rect class="' + cls + '" data-k="' + k + '" x="' + (x + 0.5).toFixed(1) + '" y="' + (y0 + ph - h).toFixed(1) + '" width="' + Math.max(1, bw - 1).toFixed(1) + '" height="' + h.toFixed(1) + '"/>';
    }
    // a label every two decades, at the bins' edges
    var lab = function (xb, t) { return '<line class="tick" x1="' + xb.toFixed(1) + '" x2="' + xb.toFixed(1) + '" y1="' + (y0 + ph) + '" y2="' + (y0 + ph + 4) + '"/><text class="xtick" x="' + xb.toFixed(1) + '" y="' + (y0 + ph + 14) + '">' + t + "</text>"; };
    for (var e = 0; e <= 2 * H.vdec * -H.vlo; e += 2 * H.vdec) {
      var d = H.vlo + e / H.vdec;
      // 1e-8 and -1e-8 stand three bins apart: ticks only
      s += lab(x0 + (z + 2 + e) * bw, e ? decade(d) : "") + lab(x0 + (z - 1 - e) * bw, e ? "&minus;" + decade(d) : "");
    }
    s += '<text class="xtick" x="' + (x0 + (z + 0.5) * bw).toFixed(1) + '" y="' + (y0 + ph + 28) + '">0</text>';
    s += '<rect class="hover" x="' + x0 + '" y="' + y0 + '" width="' + pw + '" height="' + ph + '"/>';
    return s + '<text class="xlabel" x="' + (x0 + pw) + '" y="' + (Ht - 4) + '">value x (magnitude decades; ' + H.vdec + " bins a decade)</text></svg>";
  }
  function l0SVG(l, h) {
    var n = Math.max(1, h.counts.length), W = 900, Ht = 190, x0 = 56, y0 = 20, pw = W - x0 - 12, ph = Ht - y0 - 40, bw = pw / n;
    var top = Math.max.apply(null, h.counts.concat([1]));
    var s = '<svg class="l0hist" width="' + W + '" height="' + Ht + '" viewBox="0 0 ' + W + " " + Ht + '"><text x="' + x0 + '" y="12" class="title">Observations by the number of units that fired on them (L0); mean ' + num(h.mean) + "</text>";
    for (var g = 0; g <= 4; g++) {
      var gy = y0 + ph - ph * g / 4;
      s += '<line class="grid" x1="' + x0 + '" x2="' + (x0 + pw) + '" y1="' + gy + '" y2="' + gy + '"/><text class="ytick" x="' + (x0 - 4) + '" y="' + (gy + 4) + '">' + num(Math.round(top * g / 4)) + "</text>";
    }
    for (var k = 0; k < h.counts.length; k++) {
      var c = h.counts[k], bh = c ? Math.max(1, ph * c / top) : 0;
      if (c) s += '<rect class="bar" data-k="' + k + '" x="' + (x0 + k * bw + 0.5).toFixed(1) + '" y="' + (y0 + ph - bh).toFixed(1) + '" width="' + Math.max(1, bw - 1).toFixed(1) + '" height="' + bh.toFixed(1) + '"/>';
    }
    var step = Math.max(1, Math.ceil(n / 10));
    // a bar spans L0 from lo+k*w to lo+k*w+w-1: L0 = v stands at (v-lo+0.5)/w bars
    var at = function (v) { return x0 + (v - h.lo + 0.5) / h.w * bw; };
    for (var i = 0; i < h.counts.length; i += step) s += '<text class="xtick" x="' + at(h.lo + i * h.w).toFixed(1) + '" y="' + (y0 + ph + 14) + '">' + (h.lo + i * h.w) + "</text>";
    if (h.counts.length && h.mean >= h.lo) {
      var mx = at(h.mean);
      s += '<line class="mean" x1="' + mx.toFixed(1) + '" x2="' + mx.toFixed(1) + '" y1="' + y0 + '" y2="' + (y0 + ph) + '"/>';
    }
    s += '<rect class="hover" x="' + x0 + '" y="' + y0 + '" width="' + pw + '" height="' + ph + '"/>';
    return s + '<text class="xlabel" x="' + (x0 + pw) + '" y="' + (Ht - 4) + '">units fired' + (h.w > 1 ? " (" + h.w + " a bar)" : "") + " · mean line</text></svg>";
  }
  // Bars under the pointer: the bin from the x position.
  function barTips(svg, n, tipOf) {
    if (!svg) return;
    svg.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect(), x = (ev.clientX - r.left) * (svg.viewBox.baseVal.width / r.width);
      var k = Math.floor((x - 56) / ((svg.viewBox.baseVal.width - 68) / n));
      if (k < 0 || k >= n) return hideTip();
      showTip(ev, tipOf(k));
    });
    svg.addEventListener("mouseleave", hideTip);
  }

  // A timeline layer: its fractions and Pr[y>0] across checkpoints.
  function lineSVG(title, series, ymax) {
    var n = H.labels.length, W = 900, Ht = 200, x0 = 56, y0 = 24, pw = W - x0 - 12, ph = Ht - y0 - 30;
    var X = function (i) { return x0 + (i + 0.5) / n * pw; }, Y = function (f) { return y0 + (1 - Math.min(Math.max(f / ymax, 0), 1)) * ph; };
    var s = '<svg class="plot" width="' + W + '" height="' + Ht + '" viewBox="0 0 ' + W + " " + Ht + '"><text x="' + x0 + '" y="14" class="title">' + esc(title) + "</text>";
    for (var g = 0; g <= 4; g++) s += '<line class="grid" x1="' + x0 + '" x2="' + (x0 + pw) + '" y1="' + Y(ymax * g / 4) + '" y2="' + Y(ymax * g / 4) + '"/><text class="ytick" x="' + (x0 - 4) + '" y="' + (Y(ymax * g / 4) + 4) + '">' + num(ymax * g / 4) + "</text>";
    var step = Math.max(1, Math.ceil(n / 10));
    for (var i = 0; i < n; i += step) s += '<text class="xtick" x="' + X(i).toFixed(1) + '" y="' + (Ht - 16) + '">' + esc(H.labels[i]) + "</text>";
    var lx = x0 + pw;
    series.slice().reverse().forEach(function (se) {
      var d = "", pen = "M", dots = "";
      se.v.forEach(function (f, i) {
        if (f === null) { pen = "M"; return; }
        d += pen + X(i).toFixed(1) + " " + Y(f).toFixed(1);
        dots += "M" + X(i).toFixed(1) + " " + Y(f).toFixed(1) + "h0";
        pen = "L";
      });
      s += '<path class="line ' + se.cls + '" d="' + d + '"/><path class="dots ' + se.cls + '" d="' + dots + '"/>';
      s += '<text class="legend ' + se.cls + '" x="' + lx + '" y="14">' + esc(se.name) + "</text>";
      lx -= 12 + 7 * se.name.length;
    });
    return s + "</svg>";
  }
  function timelineLayer(i) {
    var l = L[i], fr = [{ name: "dead", cls: "dead", v: l.dead_frac }, { name: "rare", cls: "rare", v: l.rare_frac }];
    if (l.dormant_frac) fr.push({ name: "dormant", cls: "dormant", v: l.dormant_frac });
    var top = 0;
    fr.forEach(function (se) { se.v.forEach(function (f) { if (f !== null) top = Math.max(top, f); }); });
    var ymax = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].filter(function (c) { return top <= c; })[0];
    var s = nav(i) + "<h2>" + i + ": " + esc(l.name) + "</h2>";
    s += lineSVG("Fractions of the layer's units, by checkpoint", fr, ymax);
    s += lineSVG("Pr[y>0] by checkpoint", [{ name: "Pr[y>0]", cls: "s0", v: l.mean_activation_probability }], 1);
    var head = "<tr><th>checkpoint</th><th>units</th><th>dead</th><th>rare</th>" + (l.dormant_frac ? "<th>dormant</th>" : "") + "<th>Pr[y&gt;0]</th></tr>";
    var body = H.labels.map(function (lab, k) {
      var f = function (a) { return a && a[k] !== null ? num(a[k]) : "&ndash;"; };
      return "<tr><td>" + esc(lab) + "</td><td>" + (l.units[k] === null ? "&ndash;" : l.units[k]) + "</td><td>" + f(l.dead_frac) + "</td><td>" + f(l.rare_frac) + "</td>" +
        (l.dormant_frac ? "<td>" + f(l.dormant_frac) + "</td>" : "") + "<td>" + f(l.mean_activation_probability) + "</td></tr>";
    }).join("");
    detail.innerHTML = s + '<table class="kv series"><thead>' + head + "</thead><tbody>" + body + "</tbody></table>";
  }

  function route() {
    var m = /^#L(\d+)$/.exec(location.hash), i = m ? +m[1] : -1;
    hideTip();
    if (i >= 0 && i < L.length) {
      (H.kind === "timeline" ? timelineLayer : reportLayer)(i);
      detail.hidden = false;
      pageParts.forEach(function (p) { p.hidden = true; });
      window.scrollTo(0, 0);
    } else {
      detail.hidden = true;
      detail.innerHTML = "";
      pageParts.forEach(function (p) { p.hidden = false; });
    }
  }
  window.addEventListener("hashchange", route);
  route();
  document.body.setAttribute("data-ready", "1");
})();
