(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dedup-data").textContent);
  var PAGE = 50, MEMBER_PAGE = 100, LIST_PAGE = 500;
  var state = {relation: "", query: "", page: 0, cluster: -1, pair: -1, selected: null, order: [],
               memberPage: 0};
  var overview = document.getElementById("overview");
  var detail = document.getElementById("detail");
  var others = document.getElementById("others");
  var panes = null;

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var key in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, key) || attrs[key] === null || attrs[key] === undefined) continue;
        if (key === "class") node.className = attrs[key];
        else if (key === "text") node.textContent = attrs[key];
        else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
        else node.setAttribute(key, String(attrs[key]));
      }
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function percent(x) { return x === null || x === undefined ? "\u2014" : (100 * x).toFixed(1) + "%"; }
  function dash(x) { return x === null || x === undefined || x === "" ? "\u2014" : String(x); }
  function relBadge(relation) { return el("span", {"class": "rel rel-" + relation, text: relation}); }
  function article(id) { return data.articles[id] || {pieces: [], boilerplate: []}; }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function short(text, n) {
    var flat = String(text).replace(/\s+/g, " ").trim();
    return flat.length <= n ? flat : flat.slice(0, n - 1) + "\u2026";
  }

  // ---- overview ----------------------------------------------------------------------------------------
  function credited(cluster) {
    var names = [];
    (cluster.credited_sources || []).forEach(function (c) { if (names.indexOf(c.source) < 0) names.push(c.source); });
    return names;
  }
  function originCell(cluster) {
    if (cluster.origin !== null) return el("span", {"class": "id", text: cluster.origin});
    var names = credited(cluster);
    return el("span", {"class": "muted"}, "outside the corpus" + (names.length ? " \u2014 credits " + names.join(", ") : ""));
  }
  function filtered() {
    var q = state.query.toLowerCase(), out = [];
    for (var i = 0; i < data.clusters.length; i++) {
      var c = data.clusters[i];
      if (state.relation && c.relation !== state.relation) continue;
      if (q && c.id.toLowerCase().indexOf(q) < 0 && !c.members.some(function (m) {
        var meta = article(m.id);
        return m.id.toLowerCase().indexOf(q) >= 0 || (meta.outlet || "").toLowerCase().indexOf(q) >= 0 ||
               (meta.title || "").toLowerCase().indexOf(q) >= 0;
      })) continue;
      out.push(i);
    }
    return out;
  }
  function pager(total, size, page, go) {
    var pages = Math.max(1, Math.ceil(total / size));
    return el("span", {"class": "pager"},
      el("button", {type: "button", "class": "prev", disabled: page <= 0 ? "" : null,
                    onclick: function () { go(page - 1); }}, "\u2039 previous"),
      " page " + (page + 1) + " of " + pages + " ",
      el("button", {type: "button", "class": "next", disabled: page >= pages - 1 ? "" : null,
                    onclick: function () { go(page + 1); }}, "next \u203a"));
  }
  function renderOverview() {
    clear(overview);
    if (data.mode === "compare") return;
    state.order = filtered();
    var pages = Math.max(1, Math.ceil(state.order.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var relations = ["", "derived", "duplicate", "same-story"];
    var relationSelect = el("select", {"aria-label": "relation", onchange: function () {
      state.relation = this.value; state.page = 0; renderOverview(); }},
      relations.map(function (r) {
        var o = el("option", {value: r, text: r || "all relations"});
        if (r === state.relation) o.selected = true;
        return o;
      }));
    var search = el("input", {type: "search", placeholder: "filter by id, outlet, title", value: state.query,
      "aria-label": "filter", onchange: function () { state.query = this.value; state.page = 0; renderOverview(); }});
    var table = el("table", {"class": "clusters"},
      el("thead", null, el("tr", null, el("th", {text: "cluster"}), el("th", {text: "relation"}),
        el("th", {text: "origin"}), el("th", {text: "why"}), el("th", {"class": "num", text: "members"}),
        el("th", {"class": "num", text: "derived"}), el("th", {"class": "num", text: "top coverage"}))));
    var body = el("tbody");
    state.order.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (index) {
      var c = data.clusters[index];
      var derived = c.members.filter(function (m) { return m.role === "derived" || m.role === "duplicate"; });
      var top = derived.reduce(function (best, m) { return m.coverage !== null && m.coverage > best ? m.coverage : best; }, -1);
      var why = (c.origin_evidence || []).map(function (e) { return String(e.why).split(":")[0]; })
        .filter(function (w, k, all) { return all.indexOf(w) === k; }).join("; ");
      var row = el("tr", {"data-cluster": c.id, "class": index === state.cluster ? "current" : null},
        el("td", null, el("button", {type: "button", "class": "link", text: c.id,
          onclick: function () { showCluster(index, -1, true); }})),
        el("td", null, relBadge(c.relation)),
        el("td", null, originCell(c)),
        el("td", {"class": "muted", text: short(why, 90)}),
        el("td", {"class": "num", text: c.members.length}),
        el("td", {"class": "num", text: derived.length}),
        el("td", {"class": "num", text: top < 0 ? "\u2014" : percent(top)}));
      body.appendChild(row);
    });
    table.appendChild(body);
    append(overview, [el("h2", {text: "Clusters"}),
      el("div", {"class": "tools"}, relationSelect, search,
         el("span", {"class": "muted", text: state.order.length + " of " + data.clusters.length + " clusters"}),
         pager(state.order.length, PAGE, state.page, function (p) { state.page = p; renderOverview(); })),
      state.order.length ? table : el("p", {"class": "muted", text: "No cluster to show."})]);
  }

  // ---- cluster detail ----------------------------------------------------------------------------------
  function evidenceItem(e) {
    var li = el("li", null, e.why || e.source || "evidence");
    if (e.source && e.why) append(li, " (" + e.source + ")");
    if (e.doc) append(li, [" \u2014 ", el("span", {"class": "id", text: e.doc})]);
    if (e.snippet) append(li, [": \u201c", el("span", {"class": "snippet", text: e.snippet}), "\u201d"]);
    if (e.published) append(li, " (published " + e.published + ")");
    return li;
  }
  function roleOf(cluster, id) {
    for (var i = 0; i < cluster.members.length; i++) if (cluster.members[i].id === id) return cluster.members[i];
    return null;
  }
  function memberTable(cluster, index) {
    var table = el("table", {"class": "members"},
      el("thead", null, el("tr", null, ["member", "role", "coverage", "extent", "outlet", "date", "sources", ""]
        .map(function (h, k) { return el("th", {"class": k === 2 ? "num" : null, text: h}); }))));
    var body = el("tbody");
    var pages = Math.max(1, Math.ceil(cluster.members.length / MEMBER_PAGE));
    state.memberPage = Math.min(state.memberPage, pages - 1);
    cluster.members.slice(state.memberPage * MEMBER_PAGE, (state.memberPage + 1) * MEMBER_PAGE).forEach(function (m) {
      var meta = article(m.id);
      var pair = -1;
      cluster.pairs.forEach(function (p, k) { if (pair < 0 && p.target === m.id) pair = k; });
      cluster.pairs.forEach(function (p, k) { if (pair < 0 && p.source === m.id) pair = k; });
      var current = state.pair >= 0 && cluster.pairs[state.pair] &&
        (cluster.pairs[state.pair].target === m.id || cluster.pairs[state.pair].source === m.id);
      body.appendChild(el("tr", {"data-member": m.id, "class": current ? "current" : null},
        el("td", null, el("span", {"class": "id", text: m.id}), meta.title ? el("div", {"class": "muted", text: short(meta.title, 90)}) : null),
        el("td", {text: dash(m.role)}),
        el("td", {"class": "num", text: percent(m.coverage)}),
        el("td", {text: dash(m.extent)}),
        el("td", {text: dash(meta.outlet)}),
        el("td", {text: dash(meta.published)}),
        el("td", {"class": "id", text: m.sources.length ? m.sources.join(", ") : "\u2014"}),
        el("td", null, pair >= 0 ? el("button", {type: "button", "class": "link view", text: "side by side",
          onclick: function () { showCluster(index, pair, true); }}) : null)));
    });
    table.appendChild(body);
    var parts = [table];
    if (pages > 1) parts.unshift(el("div", {"class": "tools"}, pager(cluster.members.length, MEMBER_PAGE, state.memberPage,
      function (p) { state.memberPage = p; showCluster(index, state.pair, false); })));
    return parts;
  }
  function verdictBlock() {
    var c = data.comparison;
    var box = el("div", {"class": "verdict"}, el("h2", null, "Verdict: ", relBadge(c.relation)),
      el("p", null, el("span", {"class": "id", text: c.a}), " vs ", el("span", {"class": "id", text: c.b})));
    var scores = c.scores || {};
    var rows = Object.keys(scores).map(function (k) {
      var v = scores[k];
      return el("tr", null, el("th", {text: k}), el("td", {"class": "num", text: typeof v === "number" ? v.toFixed(4) : String(v)}));
    });
    if (rows.length) box.appendChild(el("table", {"class": "scores"}, el("tbody", null, rows)));
    return box;
  }
  function showCluster(index, pair, scroll) {
    if (index !== state.cluster) state.memberPage = 0;
    state.cluster = index;
    var cluster = data.clusters[index];
    if (pair < 0) pair = cluster.pairs.length ? 0 : -1;
    state.pair = pair;
    state.selected = null;
    clear(detail);
    if (data.mode === "compare") detail.appendChild(verdictBlock());
    else {
      detail.appendChild(el("h2", null, "Cluster " + cluster.id + " \u00b7 ", relBadge(cluster.relation),
        " \u00b7 " + plural(cluster.members.length, "member")));
    }
    var origin = el("p", null, el("b", {text: "Origin: "}));
    if (cluster.origin !== null) {
      var meta = article(cluster.origin);
      append(origin, [el("span", {"class": "id", text: cluster.origin}),
        meta.outlet || meta.published ? el("span", {"class": "muted", text: " (" + [meta.outlet, meta.published].filter(Boolean).join(", ") + ")"}) : null]);
    } else {
      append(origin, el("span", {"class": "muted", text: data.mode === "compare" && !cluster.credited_sources.length ?
        "\u2014" : "outside the corpus"}));
    }
    detail.appendChild(origin);
    if (cluster.origin_evidence.length) {
      detail.appendChild(el("div", null, el("b", {text: "Evidence"}), el("ul", {"class": "evidence"}, cluster.origin_evidence.map(evidenceItem))));
    }
    if (cluster.credited_sources.length) {
      detail.appendChild(el("div", null, el("b", {text: "Credited sources"}), el("ul", {"class": "evidence"}, cluster.credited_sources.map(evidenceItem))));
    }
    append(detail, memberTable(cluster, index));
    if (pair >= 0) renderPair(cluster, cluster.pairs[pair]);
    else detail.appendChild(el("p", {"class": "muted", text: "No aligned passages in this cluster."}));
    if (data.mode !== "compare") {
      overview.querySelectorAll("tr.current").forEach(function (r) { r.classList.remove("current"); });
      var row = overview.querySelector('tr[data-cluster="' + cssEscape(cluster.id) + '"]');
      if (row) row.classList.add("current");
      var hash = "#cluster=" + encodeURIComponent(cluster.id) + (pair > 0 ? "&pair=" + pair : "");
      if (location.hash !== hash) history.replaceState(null, "", hash);
    }
    if (scroll) detail.scrollIntoView({block: "start"});
  }
  function cssEscape(text) { return window.CSS && CSS.escape ? CSS.escape(text) : String(text).replace(/["\\]/g, "\\$&"); }

  // ---- side by side ------------------------------------------------------------------------------------
  function paneLabel(cluster, id, isSource) {
    var m = roleOf(cluster, id);
    if (m && m.role) return m.role;
    return isSource ? "source" : "target";
  }
  function renderPair(cluster, pair) {
    var pairs = cluster.pairs;
    var chooser = null;
    if (pairs.length > 1) {
      chooser = el("select", {"aria-label": "pair", onchange: function () { showCluster(state.cluster, Number(this.value), false); }},
        pairs.map(function (p, k) {
          var o = el("option", {value: k, text: p.target + " \u2190 " + p.source + " (" + plural(p.passages.length, "passage") + ")"});
          if (k === state.pair) o.selected = true;
          return o;
        }));
    }
    var counts = {verbatim: 0, rewrite: 0};
    pair.passages.forEach(function (i) { counts[data.passages[i].kind] += 1; });
    var reused = roleOf(cluster, pair.target);
    reused = reused && (reused.role === "derived" || reused.role === "duplicate");
    detail.appendChild(el("h3", {id: "pair-title"}, "Side by side: ", el("span", {"class": "id", text: pair.target}),
      reused ? " from " : " and ", el("span", {"class": "id", text: pair.source})));
    detail.appendChild(el("div", {"class": "tools"}, chooser,
      el("span", {"class": "muted", text: counts.verbatim + " verbatim, " + counts.rewrite + " rewrite passages"}),
      el("button", {type: "button", "class": "prev-passage", onclick: function () { step(-1); }}, "\u2039 previous passage"),
      el("button", {type: "button", "class": "next-passage", onclick: function () { step(1); }}, "next passage \u203a")));
    panes = {
      source: makePane("source", cluster, pair.source, paneLabel(cluster, pair.source, true)),
      target: makePane("target", cluster, pair.target, paneLabel(cluster, pair.target, false)),
      pair: pair,
      inspector: el("div", {"class": "inspector", id: "inspector", hidden: ""})
    };
    detail.appendChild(el("div", {"class": "sbs"}, panes.source.node, panes.target.node));
    detail.appendChild(panes.inspector);
    fill(panes.source, pair, "source");
    fill(panes.target, pair, "target");
  }
  function makePane(side, cluster, id, label) {
    var meta = article(id);
    var text = el("div", {"class": "text", "data-side": side, "data-article": id, tabindex: "0"});
    text.addEventListener("click", function (event) { onPassageClick(event, side); });
    var head = el("div", {"class": "pane-head"}, el("div", {"class": "role", text: label}),
      el("div", {"class": "id", text: id}),
      el("div", {"class": "muted", text: [meta.outlet, meta.published].filter(Boolean).join(" \u00b7 ")}),
      meta.title ? el("div", {text: meta.title}) : null,
      side === "target" ? coverageLine(cluster, id) : null,
      meta.text === undefined ? el("div", {"class": "warn", text: "Full text not available: only the passages are shown."}) : null);
    return {node: el("div", {"class": "pane pane-" + side}, head, text), text: text, id: id};
  }
  function coverageLine(cluster, id) {
    var m = roleOf(cluster, id);
    if (!m || m.coverage === null || m.coverage === undefined) return null;
    return el("div", {"class": "muted", text: "coverage " + percent(m.coverage) + (m.extent ? " \u00b7 " + m.extent : "")});
  }
  function fill(pane, pair, side) {
    var art = article(pane.id);
    var marks = pair.passages.map(function (i) {
      var p = data.passages[i];
      var span = p[side + "_span"], changed = p["changed_" + side] || [];
      return {b: span[0], e: span[1], pid: "p" + i, kind: p.kind,
              chg: changed.map(function (r) { return [span[0] + r[0], span[0] + r[1]]; })};
    });
    var pieces = art.text !== undefined ? [[0, art.text]] : art.pieces;
    var bps = art.boilerplate || [];
    var frag = document.createDocumentFragment();
    var reach = 0;
    pieces.forEach(function (piece) {
      var start = piece[0], str = piece[1], end = start + str.length;
      if (art.text === undefined && start > reach) {
        frag.appendChild(el("span", {"class": "gap",
          text: start - reach < 40 ? "[\u2026]" : "[\u2026 " + (start - reach) + " characters not in the result \u2026]"}));
      }
      var cuts = [start, end];
      function cut(x) { if (x > start && x < end) cuts.push(x); }
      marks.forEach(function (m) { cut(m.b); cut(m.e); m.chg.forEach(function (r) { cut(r[0]); cut(r[1]); }); });
      bps.forEach(function (r) { cut(r[0]); cut(r[1]); });
      cuts.sort(function (x, y) { return x - y; });
      for (var k = 0; k + 1 < cuts.length; k++) {
        var a = cuts[k], z = cuts[k + 1];
        if (z <= a) continue;
        var chunk = str.slice(a - start, z - start);
        var covering = marks.filter(function (m) { return m.b < z && m.e > a; });
        var grey = bps.some(function (r) { return r[0] < z && r[1] > a; });
        if (!covering.length && !grey) { frag.appendChild(document.createTextNode(chunk)); continue; }
        var classes = [];
        if (covering.length) classes.push(covering.some(function (m) { return m.kind === "verbatim"; }) ? "v" : "r");
        if (grey) classes.push("bp");
        var span = el("span", {"class": classes.join(" "), text: chunk, "data-b": a, "data-e": z});
        if (covering.length) {
          span.setAttribute("data-p", covering.map(function (m) { return m.pid; }).join(" "));
          var chg = covering.filter(function (m) { return m.chg.some(function (r) { return r[0] < z && r[1] > a; }); });
          if (chg.length) span.setAttribute("data-chg", chg.map(function (m) { return m.pid; }).join(" "));
        }
        frag.appendChild(span);
      }
      reach = end;
    });
    if (art.text === undefined) frag.appendChild(el("span", {"class": "gap", text: "[\u2026]"}));
    clear(pane.text);
    pane.text.appendChild(frag);
  }
  function onPassageClick(event, side) {
    var node = event.target.closest ? event.target.closest("[data-p]") : null;
    if (!node) return;
    var ids = node.getAttribute("data-p").split(" ");
    var pick;
    var at = ids.indexOf(state.selected);
    if (at >= 0 && ids.length > 1) pick = ids[(at + 1) % ids.length];
    else {
      pick = ids.slice().sort(function (x, y) { return length(x, side) - length(y, side); })[0];
    }
    select(pick, side);
  }
  function length(pid, side) {
    var span = data.passages[pid.slice(1)][side + "_span"];
    return span[1] - span[0];
  }
  function select(pid, fromSide) {
    if (!panes) return;
    document.querySelectorAll(".sel, .chg-on, .flash").forEach(function (n) { n.classList.remove("sel", "chg-on", "flash"); });
    state.selected = pid;
    ["source", "target"].forEach(function (side) {
      var pane = panes[side];
      var found = pane.text.querySelectorAll('[data-p~="' + pid + '"]');
      found.forEach(function (n) { n.classList.add("sel"); });
      pane.text.querySelectorAll('[data-chg~="' + pid + '"]').forEach(function (n) { n.classList.add("chg-on"); });
      if (found.length && side !== fromSide) {
        var first = found[0];
        pane.text.scrollTop = Math.max(0, first.offsetTop - pane.text.clientHeight / 3);
        first.classList.add("flash");
      }
    });
    inspect(pid);
  }
  function step(direction) {
    if (!panes || !panes.pair.passages.length) return;
    var list = panes.pair.passages.map(function (i) { return "p" + i; });
    var at = list.indexOf(state.selected);
    var next = at < 0 ? (direction > 0 ? 0 : list.length - 1) : (at + direction + list.length) % list.length;
    select(list[next], null);
  }
  function marked(text, ranges, cls) {
    var out = [], pos = 0;
    ranges.forEach(function (r) {
      if (r[0] > pos) out.push(text.slice(pos, r[0]));
      out.push(el("span", {"class": cls, text: text.slice(r[0], r[1])}));
      pos = r[1];
    });
    if (pos < text.length) out.push(text.slice(pos));
    return out;
  }
  function passageText(id, span) {
    var art = article(id);
    if (art.text !== undefined) return art.text.slice(span[0], span[1]);
    for (var i = 0; i < art.pieces.length; i++) {
      var start = art.pieces[i][0], str = art.pieces[i][1];
      if (span[0] >= start && span[1] <= start + str.length) return str.slice(span[0] - start, span[1] - start);
    }
    return "";
  }
  function inspect(pid) {
    var p = data.passages[pid.slice(1)];
    var box = panes.inspector;
    clear(box);
    box.hidden = false;
    var source = passageText(p.source, p.source_span), target = passageText(p.target, p.target_span);
    box.appendChild(el("div", null, el("span", {"class": p.kind === "verbatim" ? "v" : "r", text: p.kind}),
      " \u00b7 score " + Number(p.score).toFixed(2) + " \u00b7 source [" + p.source_span.join(":") + "] \u2192 target [" +
      p.target_span.join(":") + "]" + (p.kind === "rewrite" ? " \u00b7 word differences: struck out in the source, bold in the target" : "")));
    box.appendChild(el("div", {"class": "cols"},
      el("div", null, el("h3", {text: "source"}), el("div", {"class": "ptext source-text"},
        p.kind === "rewrite" ? marked(source, p.changed_source, "del") : source)),
      el("div", null, el("h3", {text: "target"}), el("div", {"class": "ptext target-text"},
        p.kind === "rewrite" ? marked(target, p.changed_target, "ins") : target))));
  }

  // ---- singletons, skipped, routing --------------------------------------------------------------------
  function renderOthers() {
    clear(others);
    if (data.mode === "compare") return;
    function lazyList(title, items, render) {
      var box = el("details", null, el("summary", {text: title + " (" + items.length + ")"}));
      var done = false;
      box.addEventListener("toggle", function () {
        if (done || !box.open) return;
        done = true;
        var list = el("ul");
        items.slice(0, LIST_PAGE).forEach(function (item) { list.appendChild(el("li", null, render(item))); });
        box.appendChild(list);
        if (items.length > LIST_PAGE) box.appendChild(el("p", {"class": "muted", text: "\u2026 and " + (items.length - LIST_PAGE) + " more (see the JSON result)."}));
      });
      return box;
    }
    others.appendChild(lazyList("Singletons: articles in no cluster", data.singletons, function (id) { return el("span", {"class": "id", text: id}); }));
    if (data.skipped.length) others.appendChild(lazyList("Skipped inputs", data.skipped, function (s) {
      return [el("span", {"class": "id", text: s.path}), el("span", {"class": "muted", text: ": " + s.reason})];
    }));
  }
  function fromHash() {
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var k = part.indexOf("=");
      if (k > 0) { try { params[part.slice(0, k)] = decodeURIComponent(part.slice(k + 1)); } catch (e) { /* ignore */ } }
    });
    for (var i = 0; i < data.clusters.length; i++) {
      if (data.clusters[i].id === params.cluster) {
        var pair = Number(params.pair || 0);
        var at = state.order.indexOf(i);
        if (at >= 0) state.page = Math.floor(at / PAGE);
        return [i, pair >= 0 && pair < data.clusters[i].pairs.length ? pair : -1];
      }
    }
    return null;
  }

  var c = data.counts;
  document.getElementById("counts").textContent = data.mode === "compare" ? "Two articles compared" :
    plural(c.articles, "article") + " \u00b7 " + plural(c.clusters, "cluster") + " \u00b7 " + plural(c.passages, "passage") +
    " \u00b7 " + plural(c.singletons, "singleton") + " \u00b7 " + c.skipped + " skipped";
  state.order = filtered();
  var start = fromHash();
  renderOverview();
  renderOthers();
  if (start) showCluster(start[0], start[1], false);
  else if (data.clusters.length) showCluster(0, -1, false);
  document.addEventListener("keydown", function (event) {
    var tag = event.target && event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "n") step(1);
    else if (event.key === "p") step(-1);
  });
  window.addEventListener("hashchange", function () {
    var target = fromHash();
    if (target && (target[0] !== state.cluster || target[1] !== state.pair)) { renderOverview(); showCluster(target[0], target[1], true); }
  });
  window.dedupReport = {
    readyMs: performance.now(),
    showCluster: showCluster,
    select: select,
    state: state
  };
  document.documentElement.setAttribute("data-ready", "1");
})();
