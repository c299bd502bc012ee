// heapdig report: the page's script (inlined into every report).  The facts
// are in the HTML already; this adds the picture, the retainers of a
// selected object and sorting.  Heap text only ever reaches the page
// through textContent, never as markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("hd-data").textContent);
  var N = data.nodes, O = data.objects;
  // node: [id, parent, type, label, value, shallow, retained, first child,
  //        children, more, more retained, chain's last object, not opened,
  //        python]
  var ID = 0, PARENT = 1, TYPE = 2, LABEL = 3, VALUE = 4, SHALLOW = 5,
      RET = 6, FIRST = 7, KIDS = 8, LAST = 11, PY = 13;
  document.body.classList.remove("noscript");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function bytes(b) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (b >= 1024 && i < 4) { b /= 1024; i++; }
    return i ? b.toFixed(1) + " " + u[i] : b + " B";
  }
  function pct(b) { return (100 * b / (data.total || 1)).toFixed(1) + "%"; }

  // ---- retainers of the selected row ----
  var panel = document.getElementById("retainers");
  var tree = document.querySelector(".domtree");
  function chainOf(objIndex) {
    var steps = [];
    for (var k = objIndex; k >= 0; k = O[k][3]) steps.unshift(O[k]);
    return steps;
  }
  function showRetainers(i) {
    var n = N[i], body = panel.querySelector(".body");
    body.textContent = "";
    var h = el("p", null, "");
    h.appendChild(el("span", "ty", n[TYPE]));
    if (n[LABEL]) { h.appendChild(document.createTextNode(" ")); h.appendChild(el("span", "lb", n[LABEL])); }
    h.appendChild(document.createTextNode(" retains " + bytes(n[RET]) + " (" + pct(n[RET]) + "); it is alive because:"));
    body.appendChild(h);
    if (n[LAST] < 0) {
      body.appendChild(el("p", "none", "It is a root: nothing in the heap holds it."));
    } else {
      var ol = el("ol", "chain"), steps = chainOf(n[LAST]);
      steps.forEach(function (s, k) {
        var li = el("li");
        if (k === 0 && s[4]) li.appendChild(el("span", "root", "root " + s[4]));
        else if (k > 0) li.appendChild(el("span", "arrow" + (s[5] ? " weak" : ""), s[4] || "(no name)"));
        var box = el("span", "box");
        box.appendChild(el("span", "ty", s[1]));
        if (s[2] !== null) { box.appendChild(document.createTextNode(" ")); box.appendChild(el("span", "val", s[2])); }
        li.appendChild(box);
        ol.appendChild(li);
      });
      body.appendChild(ol);
    }
    if (n[PY]) {
      var p = el("p", null, "In the process it is ");
      p.appendChild(el("code", "python", n[PY]));
      body.appendChild(p);
    }
    panel.hidden = false;
  }
  var selected = null;
  function select(i) {
    if (selected) selected.classList.remove("selected");
    selected = document.querySelector('.domtree .row[data-node="' + i + '"]');
    if (selected) selected.classList.add("selected");
    if (i > 0) showRetainers(i); else panel.hidden = true;
  }
  if (tree) tree.addEventListener("click", function (ev) {
    var row = ev.target.closest(".row");
    if (row) select(+row.getAttribute("data-node"));
  });

  // ---- the picture: an icicle of the dominator tree ----
  var ice = document.getElementById("icicle"), focus = 0, ROWH = 24, DEPTH = 10;
  function hue(s) {
    var h = 0;
    for (var k = 0; k < s.length; k++) h = (h * 31 + s.charCodeAt(k)) >>> 0;
    return h % 360;
  }
  function draw() {
    if (!ice || !N.length) return;
    ice.textContent = "";
    var width = ice.clientWidth || 1000, rows = 0;
    function place(i, x, w, depth) {
      if (w < 2 || depth >= DEPTH) return;
      var n = N[i], b = el("div", "blk");
      b.style.left = x + "px"; b.style.width = w + "px"; b.style.top = depth * ROWH + "px";
      b.style.background = i === 0 ? "#e9ecef" : "hsl(" + hue(n[TYPE]) + ",60%,80%)";
      var name = n[TYPE] + (n[LABEL] ? " " + n[LABEL] : "");
      b.textContent = name + "  " + bytes(n[RET]);
      b.title = name + "\n" + bytes(n[RET]) + " retained (" + pct(n[RET]) + ")" + (i === focus && i ? "\nclick to zoom out" : "");
      b.setAttribute("data-node", i);
      ice.appendChild(b);
      rows = Math.max(rows, depth + 1);
      var cx = x;
      for (var k = 0; k < n[KIDS]; k++) {
        var c = n[FIRST] + k, cw = n[RET] ? w * N[c][RET] / n[RET] : 0;
        place(c, cx, cw, depth + 1);
        cx += cw;
      }
    }
    place(focus, 0, width, 0);
    ice.style.height = rows * ROWH + 2 + "px";
  }
  if (ice) ice.addEventListener("click", function (ev) {
    var b = ev.target.closest(".blk");
    if (!b) return;
    var i = +b.getAttribute("data-node");
    focus = i === focus ? Math.max(N[i][PARENT], 0) : i;
    draw();
    if (focus > 0) select(focus);
  });
  window.addEventListener("resize", draw);
  draw();

  // ---- sortable tables ----
  document.querySelectorAll("table.sortable").forEach(function (t) {
    t.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        var down = th.getAttribute("data-down") !== "1";
        th.setAttribute("data-down", down ? "1" : "0");
        function key(r) {
          var c = r.cells[col], v = c.getAttribute("data-v");
          return v !== null ? +v : c.textContent;
        }
        rows.sort(function (a, b) {
          var x = key(a), y = key(b), r = x < y ? -1 : x > y ? 1 : 0;
          return down ? -r : r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
