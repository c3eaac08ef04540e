"use strict";
(function () {
  var t0 = performance.now();
  var D;
  try {
    D = JSON.parse(document.getElementById("regtidy-data").textContent);
  } catch (err) {
    console.error("regtidy: the page's data could not be read:", err);
    return;
  }
  render(D);

  function render(D) {
    var main = document.getElementById("main");
    var SVG = "http://www.w3.org/2000/svg";

    function el(tag, attrs, text) {
      var e = document.createElement(tag);
      for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function sv(tag, attrs, title) {
      var e = document.createElementNS(SVG, tag);
      for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
      if (title !== undefined) { var t = document.createElementNS(SVG, "title"); t.textContent = title; e.appendChild(t); }
      return e;
    }
    function section(id, title) {
      var s = el("section", { id: id });
      s.appendChild(el("h2", {}, title));
      main.appendChild(s);
      return s;
    }
    function count(n) { return Number(n).toLocaleString("en-US"); }
    function bytes(b) {
      if (b < 0) return "-";
      var u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
      while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
      return (i === 0 ? b : b.toFixed(1)) + " " + u[i];
    }
    function sentence(s) { return /\.$/.test(s) ? s : s + "."; }
    function table(head, rows, numeric) {
      var t = el("table"), tr = el("tr");
      if (head) {
        head.forEach(function (h, i) { tr.appendChild(el("th", numeric && numeric[i] ? { class: "n" } : {}, h)); });
        t.appendChild(tr);
      }
      rows.forEach(function (r) {
        var row = el("tr");
        r.forEach(function (c, i) { row.appendChild(el("td", numeric && numeric[i] ? { class: "n" } : {}, String(c))); });
        t.appendChild(row);
      });
      return t;
    }
    function legend(items) {
      var p = el("p", { class: "legend" });
      items.forEach(function (it) {
        var s = el("span"), sw = el("span", { class: "sw" });
        sw.style.background = it[0];
        s.appendChild(sw); s.appendChild(document.createTextNode(it[1]));
        p.appendChild(s);
      });
      return p;
    }
    // hbars draws one horizontal bar per item: [label, value, valueText].
    function hbars(id, cls, items) {
      var rowH = 22, labelW = 200, w = 900, h = items.length * rowH + 6;
      var svg = sv("svg", { id: id, viewBox: "0 0 " + w + " " + h, width: w, height: h, role: "img" });
      var max = Math.max.apply(null, items.map(function (it) { return it[1]; }).concat([1]));
      items.forEach(function (it, i) {
        var y = i * rowH + 3, bw = Math.max(1, (w - labelW - 230) * it[1] / max);
        svg.appendChild(sv("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" })).textContent = it[0];
        svg.appendChild(sv("rect", { class: cls, x: labelW, y: y, width: bw, height: rowH - 6 }, it[0] + ": " + it[2]));
        svg.appendChild(sv("text", { x: labelW + bw + 6, y: y + 14 })).textContent = it[2];
      });
      return svg;
    }

    // Evidence and what the page cannot show.
    var ev = section("evidence", "Evidence");
    ev.appendChild(table(null, D.evidence));
    (D.unknown || []).forEach(function (u) { ev.appendChild(el("p", { class: "note" }, u)); });

    // Fan-out: tags per group-by value, in commit order.
    var F = D.fanout;
    if (F) {
      var fs = section("fanout-section", "Tags per " + F.field + (F.order === "commit" ? " in commit order on " + F.branch + " (oldest left)" : " ordered by oldest image (commit order unknown)"));
      var n = F.points.length, W = 1000, H = 260, left = 50, top = 16, bottom = 30;
      var bw = (W - left - 10) / Math.max(n, 1);
      var maxT = 1;
      F.points.forEach(function (p) { if (p[1] > maxT) maxT = p[1]; });
      var svg = sv("svg", { id: "fanout", viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
      var plotH = H - top - bottom, y0 = top + plotH;
      if (D.plan && F.window_shaded) {
        var xs = [];
        F.points.forEach(function (p, i) { if (p[2] >= 0 && p[2] < F.window) xs.push(i); });
        if (xs.length) {
          var a = Math.min.apply(null, xs), b = Math.max.apply(null, xs);
          svg.appendChild(sv("rect", { class: "window", x: left + a * bw, y: top, width: (b - a + 1) * bw, height: plotH },
            "keep window: the last " + F.window + " commits of " + F.branch));
        }
      }
      F.points.forEach(function (p, i) {
        var g = sv("g", { class: "pt" }), x = left + i * bw, wbar = Math.max(bw - 0.6, 0.6);
        var where = p[2] >= 0 ? p[2] + " commits behind " + F.branch : (F.order === "commit" ? "not on " + F.branch : "");
        var tip = F.field + " " + p[0] + ": " + count(p[1]) + " tags" + (where ? ", " + where : "");
        if (D.plan) {
          var hk = plotH * p[3] / maxT, hd = plotH * p[4] / maxT;
          tip += "; keeps " + count(p[3]) + ", deletes " + count(p[4]);
          if (p[5] & 2) tip += "; used by a live run";
          g.appendChild(sv("rect", { class: "keep", x: x, y: y0 - hk, width: wbar, height: hk }, tip));
          g.appendChild(sv("rect", { class: "del", x: x, y: y0 - hk - hd, width: wbar, height: hd }, tip));
          if ((p[5] & 1) && !F.window_shaded) g.appendChild(sv("rect", { class: "inwin", x: x, y: y0 + 2, width: wbar, height: 4 }, tip + "; kept by the commits rule"));
          if (p[5] & 2) g.appendChild(sv("circle", { class: "live", cx: x + bw / 2, cy: y0 - hk - hd - 5, r: Math.min(4, Math.max(bw / 2, 2)) }, tip));
        } else {
          var hb = plotH * p[1] / maxT;
          g.appendChild(sv("rect", { class: "bar", x: x, y: y0 - hb, width: wbar, height: hb }, tip));
        }
        svg.appendChild(g);
      });
      svg.appendChild(sv("line", { x1: left, y1: y0, x2: W - 10, y2: y0, stroke: "#888" }));
      svg.appendChild(sv("text", { x: left - 4, y: top + 8, "text-anchor": "end" })).textContent = count(maxT);
      svg.appendChild(sv("text", { x: left - 4, y: y0, "text-anchor": "end" })).textContent = "0";
      if (n) {
        svg.appendChild(sv("text", { x: left, y: H - 8 })).textContent = String(F.points[0][0]).slice(0, 12);
        svg.appendChild(sv("text", { x: W - 10, y: H - 8, "text-anchor": "end" })).textContent = String(F.points[n - 1][0]).slice(0, 12);
      }
      fs.appendChild(svg);
      var items = D.plan ? [["#3c9d5d", "tags kept"], ["#d0533f", "tags deleted"], ["#e0a100", "used by a live run (" + F.live + ")"]]
        : [["#4a78c2", "tags"]];
      if (D.plan && F.window_shaded) items.push(["rgba(60,157,93,.25)", "keep window: last " + F.window + " commits"]);
      if (D.plan && !F.window_shaded && F.window) items.push(["#3c9d5d", "underlined: kept by the commits rule"]);
      fs.appendChild(legend(items));
    }

    // Sizes by kind and by split value.
    var ss = section("sizes", "Image bytes by kind and by " + (D.split_field || "split field"));
    ss.appendChild(el("p", {}, "Compressed bytes of each tag's image, shared blobs counted once per image."));
    ss.appendChild(hbars("kind-bytes", "kbar", (D.kinds || []).map(function (k) { return [k.kind, k.bytes, bytes(k.bytes) + " in " + count(k.tags) + " tags"]; })));
    if (D.split && D.split.length) {
      ss.appendChild(hbars("split-bytes", "sbar", D.split.map(function (s) { return [s.value, s.bytes, bytes(s.bytes) + " in " + count(s.tags) + " tags"]; })));
    }

    // Tag ages.
    var as = section("ages", "Tag age at listing time");
    as.appendChild(hbars("age-histogram", "abar", (D.ages || []).map(function (a) { return [a.label, a.tags, count(a.tags) + " tags"]; })));

    // The plan.
    var P = D.plan;
    if (P) {
      var ps = section("plan", "Plan: policy " + P.policy + ", evaluated at " + P.now);
      var rows = P.kinds.concat([P.totals]).map(function (k) {
        return [k.kind, count(k.kept_tags), count(k.deleted_tags), count(k.kept_manifests), count(k.deleted_manifests), bytes(k.bytes_freed)];
      });
      ps.appendChild(table(["kind", "keep tags", "delete tags", "keep manifests", "delete manifests", "frees"], rows, [0, 1, 1, 1, 1, 1]));
      var W2 = 900, rowH = 22, labelW = 200, H2 = P.kinds.length * rowH + 6, maxK = 1;
      P.kinds.forEach(function (k) { maxK = Math.max(maxK, k.kept_tags + k.deleted_tags); });
      var ks = sv("svg", { id: "plan-kinds", viewBox: "0 0 " + W2 + " " + H2, width: W2, height: H2, role: "img" });
      P.kinds.forEach(function (k, i) {
        var y = i * rowH + 3, sc = (W2 - labelW - 20) / maxK, wk = k.kept_tags * sc, wd = k.deleted_tags * sc;
        ks.appendChild(sv("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" })).textContent = k.kind;
        ks.appendChild(sv("rect", { class: "pk", x: labelW, y: y, width: wk, height: rowH - 6 }, k.kind + ": keeps " + count(k.kept_tags) + " tags"));
        ks.appendChild(sv("rect", { class: "pd", x: labelW + wk, y: y, width: wd, height: rowH - 6 }, k.kind + ": deletes " + count(k.deleted_tags) + " tags"));
      });
      ps.appendChild(ks);
      ps.appendChild(legend([["#3c9d5d", "tags kept"], ["#d0533f", "tags deleted"]]));
      ps.appendChild(el("h2", {}, "Decided by (manifests, by first reason)"));
      ps.appendChild(hbars("plan-reasons", "rbar", P.reasons.map(function (r) { return [r.action + " " + r.rule, r.count, count(r.count)]; })));
      var c = P.cost, cost = "Frees " + bytes(P.bytes_freed) + " of blobs only deleted manifests use.";
      if (c.mode) {
        cost += " Applying it takes " + count(c.requests) + " requests, " + count(c.deletes) + " of them deletes, in " + c.mode + " mode";
        cost += c.hours > 0 ? ": " + (c.hours >= 10 ? c.hours.toFixed(0) : c.hours.toPrecision(2)) + " hours of the token's hourly REST budget." : ".";
        cost += " Why " + c.mode + " mode: " + sentence(c.why);
        if (c.after_apply) cost += " Afterwards: " + sentence(c.after_apply);
      }
      ps.appendChild(el("p", { id: "cost" }, cost));
      if (P.sources && P.sources.length) {
        ps.appendChild(table(["keep source", "read", "what it read"], P.sources));
      }
    }

    // The tag table: every tag in the data, PageSize rows in the DOM.
    var T = D.table;
    if (T) {
      // Tag names are front-coded: each keeps tag_prefix[i] characters of the one before.
      T.tag = new Array(T.tag_suffix.length);
      for (var ti = 0, prevTag = ""; ti < T.tag.length; ti++) {
        prevTag = T.tag[ti] = prevTag.slice(0, T.tag_prefix[ti]) + T.tag_suffix[ti];
      }
      var ts = section("tags", "Tags");
      var ctl = el("div", { class: "controls" });
      var q = el("input", { id: "q", type: "search", placeholder: "search tags and reasons" });
      var fa = el("select", { id: "action" });
      [["", "any decision"], ["1", "kept"], ["2", "deleted"]].forEach(function (o) { fa.appendChild(el("option", { value: o[0] }, o[1])); });
      var fk = el("select", { id: "kind" });
      fk.appendChild(el("option", { value: "" }, "any kind"));
      T.kinds.forEach(function (k, i) { fk.appendChild(el("option", { value: String(i) }, k)); });
      var prev = el("button", { id: "prev" }, "previous"), next = el("button", { id: "next" }, "next");
      var info = el("span", { id: "info" });
      [q, fa, fk, prev, next, info].forEach(function (e) { ctl.appendChild(e); });
      if (!D.plan) fa.disabled = true;
      ts.appendChild(ctl);
      var tt = el("table", { id: "tag-table" }), thead = el("tr");
      ["tag", "kind", "created", "size", "decision", "reason"].forEach(function (h, i) { thead.appendChild(el("th", i === 3 ? { class: "n" } : {}, h)); });
      tt.appendChild(thead);
      var tbody = el("tbody");
      tt.appendChild(tbody);
      ts.appendChild(tt);
      var N = T.tag.length, lower = null, match = null, page = 0, per = D.page_size;
      var acts = ["-", "keep", "delete"];
      function filter() {
        var s = q.value.trim().toLowerCase(), a = fa.value === "" ? -1 : +fa.value, k = fk.value === "" ? -1 : +fk.value;
        if (s && !lower) lower = T.tag.map(function (x) { return x.toLowerCase(); });
        var rl = s ? T.reasons.map(function (x) { return x.toLowerCase().indexOf(s) >= 0; }) : null;
        match = [];
        for (var i = 0; i < N; i++) {
          if (a >= 0 && T.action[i] !== a) continue;
          if (k >= 0 && T.kind[i] !== k) continue;
          if (s && lower[i].indexOf(s) < 0 && !(T.reason[i] >= 0 && rl[T.reason[i]])) continue;
          match.push(i);
        }
        page = 0;
        draw();
      }
      function draw() {
        var pages = Math.max(1, Math.ceil(match.length / per));
        page = Math.min(Math.max(page, 0), pages - 1);
        var frag = document.createDocumentFragment();
        match.slice(page * per, page * per + per).forEach(function (i) {
          var tr = el("tr");
          tr.appendChild(el("td", { class: "tag" }, T.tag[i]));
          tr.appendChild(el("td", {}, T.kinds[T.kind[i]]));
          tr.appendChild(el("td", {}, T.created[i] ? new Date(T.created[i] * 1000).toISOString().slice(0, 16).replace("T", " ") : "-"));
          tr.appendChild(el("td", { class: "n" }, bytes(T.bytes[i])));
          tr.appendChild(el("td", { class: "act-" + acts[T.action[i]] }, acts[T.action[i]]));
          tr.appendChild(el("td", { class: "reason" }, T.reason[i] >= 0 ? T.reasons[T.reason[i]] : ""));
          frag.appendChild(tr);
        });
        tbody.replaceChildren(frag);
        info.textContent = count(match.length) + " of " + count(N) + " tags, page " + (page + 1) + " of " + count(pages);
      }
      var timer = 0;
      q.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(filter, 150); });
      fa.addEventListener("change", filter);
      fk.addEventListener("change", filter);
      prev.addEventListener("click", function () { page--; draw(); });
      next.addEventListener("click", function () { page++; draw(); });
      filter();
    }
    document.body.setAttribute("data-render-ms", (performance.now() - t0).toFixed(1));
    document.body.setAttribute("data-rendered", "true");
  }
})();
