// sipsniff ladder page: draws the ladder of the dialog the address names (#dialog-N) from the JSON
// data block, and runs the call list's filter, the time switch and the message panel.
// Packet text is only ever inserted with textContent (or the title property), never as markup.
//
// A big capture's page is compact: compact.js (which runs first) draws its call list and builds its
// dialogs as this script finds them in the data block of a small one.
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("data").textContent);
  var messages = new Map();
  data.messages.forEach(function (m) { messages.set(m.index, m); });
  var dialogs = new Map();
  data.dialogs.forEach(function (d) { dialogs.set(d.index, d); });
  var compact = data.compact ? window.sipsniffCompact(data, messages) : null;
  var order = compact ? compact.order : data.dialogs.map(function (d) { return d.index; });

  function known(index) {
    return compact ? compact.known(index) : dialogs.has(index);
  }

  // The dialog as the script draws it; on a compact page, null while its data is not read yet.
  function dialogOf(index) {
    return compact ? compact.dialog(index) : dialogs.get(index);
  }

  var mode = data.time;
  var full = data.full;
  var current = null;
  var ladder = document.getElementById("ladder");
  var rows = document.getElementById("call-rows");
  var detail = document.getElementById("detail");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // -- the call list -------------------------------------------------------------------------

  // The call list of HTML rows (a compact page's is compact.js's, with the same methods).
  function tableList() {
    var rowText = null;
    return {
      total: rows ? rows.rows.length : 0,
      // The indexes of the dialogs the filter shows, in order.
      shown: function () {
        if (!rows) return [];
        return Array.prototype.filter.call(rows.rows, function (tr) { return !tr.hidden; })
          .map(function (tr) { return Number(tr.dataset.index); });
      },
      filter: function (terms) {
        if (rowText === null) {
          rowText = Array.prototype.map.call(rows.rows, function (tr) {
            return (tr.textContent + " " + (tr.dataset.callId || "") + " " +
              tr.cells[3].title + " " + tr.cells[4].title).toLowerCase();
          });
        }
        var shown = 0;
        Array.prototype.forEach.call(rows.rows, function (tr, i) {
          var hit = terms.every(function (t) { return rowText[i].indexOf(t) >= 0; });
          tr.hidden = !hit;
          if (hit) shown += 1;
        });
        return shown;
      },
      current: function (index) {
        Array.prototype.forEach.call(rows ? rows.rows : [], function (tr) {
          if (Number(tr.dataset.index) === index) tr.setAttribute("aria-current", "true");
          else tr.removeAttribute("aria-current");
        });
      },
      stateClass: function (index) {
        var row = rows && document.getElementById("call-" + index);
        var cell = row ? row.querySelector(".state") : null;
        return cell ? cell.className : "state";
      },
      times: function (m) {
        Array.prototype.forEach.call(rows ? rows.querySelectorAll("td.start") : [], function (td) {
          td.textContent = m === "abs" ? td.dataset.abs : td.dataset.rel;
        });
      }
    };
  }

  var list = compact ? compact.list : tableList();

  function applyFilter() {
    if (!rows) return;
    var input = document.getElementById("filter");
    var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = list.filter(terms);
    var total = list.total;
    document.getElementById("shown").textContent =
      (shown === total ? "" : shown + " of ") + total + (total === 1 ? " dialog" : " dialogs");
    if (current !== null) drawNav(current);
  }

  var filterTimer = 0;
  var filterInput = document.getElementById("filter");
  if (filterInput) {
    filterInput.addEventListener("input", function () {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(applyFilter, 120);
    });
  }

  if (rows && data.ladders) {
    rows.addEventListener("click", function (ev) {
      var tr = ev.target.closest("tr");
      if (!tr || !tr.dataset.index || ev.target.closest("a")) return;
      location.hash = "dialog-" + tr.dataset.index;
    });
  }

  function updateStartColumn() {
    var title = document.getElementById("start-title");
    if (!title || !rows) return;
    title.textContent = mode === "abs" ? "Start " + title.dataset.zone : "Start";
    list.times(mode);
  }

  // -- the ladder ----------------------------------------------------------------------------

  function stamp(row) {
    var m = messages.get(row.m);
    if (mode === "delta") return row.delta;
    return m.t[mode];
  }

  function timeTitle(d) {
    return mode === "abs" ? d.zone : data.titles[mode];
  }

  function navLink(text, index, label) {
    var a = el("a", "", text);
    a.setAttribute("aria-label", label);
    a.title = label;
    if (index === null) {
      a.setAttribute("aria-disabled", "true");
    } else {
      a.href = "#dialog-" + index;
    }
    return a;
  }

  function drawNav(index) {
    var nav = ladder.querySelector(".dlg-nav");
    if (!nav) return;
    var shown = list.shown();
    var at = shown.indexOf(index);
    var prev = at > 0 ? shown[at - 1] : null;
    var next = at >= 0 && at < shown.length - 1 ? shown[at + 1] : null;
    if (at < 0 && shown.length) next = shown[0];
    nav.replaceChildren(navLink("◀ previous", prev, "previous dialog (key p)"),
      navLink("next ▶", next, "next dialog (key n)"));
  }

  function party(name, uri) {
    return name ? name + " <" + uri + ">" : uri;
  }

  function arrowButton(row, m, d) {
    var lo = Math.min(row.src, row.dst);
    var span = Math.abs(row.dst - row.src);
    var b = el("button", "arrow " + m.class + (span === 0 ? " self" : row.dst > row.src ? " right" : " left"));
    b.type = "button";
    b.style.setProperty("--from", String(lo));
    b.style.setProperty("--span", String(span));
    b.dataset.message = String(row.m);
    var label = el("span", "label", m.label);
    if (row.copies.length) {
      var times = el("span", "times", "×" + (row.copies.length + 1));
      times.title = "seen " + (row.copies.length + 1) + " times (retransmissions)";
      label.appendChild(times);
    }
    b.appendChild(label);
    b.appendChild(el("span", "line"));
    if (row.info) b.appendChild(el("span", "info", row.info));
    b.title = m.label + "\n" + d.lanes[row.src].addr + " → " + d.lanes[row.dst].addr +
      "\nframe " + m.frame + ", " + m.t.abs + "\nclick to show the message";
    return b;
  }

  function draw(index) {
    var d = dialogOf(index);
    current = index;
    list.current(index);
    var frag = document.createDocumentFragment();
    var head = el("div", "dlg-head");
    var h2 = el("h2", "", "Dialog " + d.index);
    head.appendChild(h2);
    head.appendChild(el("span", "method", d.first_method));
    head.appendChild(el("span", list.stateClass(d.index), d.state));
    head.appendChild(el("span", "dim", d.durationText));
    var nav = el("nav", "dlg-nav");
    head.appendChild(nav);
    frag.appendChild(head);
    var sub = el("p", "dlg-sub");
    sub.appendChild(document.createTextNode(party(d.from_name, d.from) + " → " + party(d.to_name, d.to) + " · Call-ID "));
    sub.appendChild(el("span", "cid", d.call_id));
    frag.appendChild(sub);

    var wrap = el("div", "lad-wrap");
    var table = el("table", "lad");
    table.style.setProperty("--lanes", String(d.lanes.length));
    var thead = el("thead");
    var hr = el("tr");
    hr.appendChild(el("th", "t", timeTitle(d)));
    if (mode === "dialog") hr.appendChild(el("th", "g", "delta"));
    var lanes = el("th", "lanes");
    d.lanes.forEach(function (lane) {
      var cell = el("div", "lane");
      var addr = el("span", "addr", lane.addr);
      addr.title = lane.addr;
      cell.appendChild(addr);
      if (lane.agent) {
        var agent = el("span", "agent", lane.agent);
        agent.title = lane.agent;
        cell.appendChild(agent);
      }
      lanes.appendChild(cell);
    });
    hr.appendChild(lanes);
    hr.appendChild(el("th", "notes", ""));
    thead.appendChild(hr);
    table.appendChild(thead);

    var tbody = el("tbody");
    d.rows.forEach(function (row) {
      var m = messages.get(row.m);
      var tr = el("tr", "msg");
      tr.dataset.message = String(row.m);
      tr.appendChild(el("td", "t", stamp(row)));
      if (mode === "dialog") tr.appendChild(el("td", "g", row.gap));
      var cell = el("td", "lanes");
      cell.appendChild(arrowButton(row, m, d));
      tr.appendChild(cell);
      var notes = el("td", "notes");
      row.notes.forEach(function (note, k) {
        if (k) notes.appendChild(document.createTextNode(", "));
        notes.appendChild(el("span", note === "challenge" ? "challenge" : "", note));
      });
      tr.appendChild(notes);
      tbody.appendChild(tr);
      if (full) {
        var textRow = el("tr", "text");
        textRow.appendChild(el("td", "", ""));
        if (mode === "dialog") textRow.appendChild(el("td", "", ""));
        var textCell = el("td", "", "");
        textCell.colSpan = 2;
        textCell.appendChild(el("pre", "", m.text));
        textRow.appendChild(textCell);
        tbody.appendChild(textRow);
      }
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    frag.appendChild(wrap);
    ladder.replaceChildren(frag);
    fitLanes(table);
    drawNav(index);
  }

  // Lanes as wide as the longest label needs (up to LANE_MAX): a label is cut only when it does
  // not fit between its two lifelines at that width. One layout: read every width, then set one.
  var LANE_MAX = 560;

  function fitLanes(table) {
    var lane = parseFloat(getComputedStyle(table).getPropertyValue("--lane")) || 190;
    var need = lane;
    Array.prototype.forEach.call(table.querySelectorAll("button.arrow"), function (b) {
      var span = Number(b.style.getPropertyValue("--span"));
      Array.prototype.forEach.call(b.querySelectorAll(".label, .info"), function (text) {
        // 12px each side of the label, as ladder.css places it; a self arrow's label starts
        // 30px into 0.9 of a lane.
        if (text.scrollWidth <= text.clientWidth) return;
        var wide = text.scrollWidth + 2;
        need = Math.max(need, span ? (wide + 24) / span : (wide + 30) / 0.9);
      });
    });
    Array.prototype.forEach.call(table.querySelectorAll(".lane .addr, .lane .agent"), function (a) {
      if (a.scrollWidth > a.clientWidth) need = Math.max(need, a.scrollWidth + 10);
    });
    if (need > lane) table.style.setProperty("--lane", Math.ceil(Math.min(need, LANE_MAX)) + "px");
  }

  function route() {
    if (!data.ladders || !order.length) return;
    var match = /^#dialog-(\d+)$/.exec(location.hash);
    var index = match ? Number(match[1]) : null;
    if (index === null || !known(index)) index = order[0];
    if (!dialogOf(index)) {
      // A compact page's dialog whose data the browser has not read yet: once it has.
      document.addEventListener("DOMContentLoaded", route, { once: true });
      return;
    }
    draw(index);
    if (match && ladder.getBoundingClientRect().top > window.innerHeight * 0.6) {
      ladder.scrollIntoView({ block: "start" });
    }
  }

  // -- the message panel ---------------------------------------------------------------------

  function meta(list, name, value) {
    list.appendChild(el("dt", "", name));
    list.appendChild(el("dd", "", value));
  }

  function show(index, row) {
    var m = messages.get(index);
    document.getElementById("detail-title").textContent = m.label;
    var list = document.getElementById("detail-meta");
    list.replaceChildren();
    meta(list, "from → to", m.src + " → " + m.dst + " (" + m.transport + ")");
    meta(list, "time", m.t.abs + " · " + m.t.rel + " since start · " + m.t.dialog + " in dialog " + m.dialog);
    meta(list, "frame", String(m.frame) + (m.file !== undefined ? " of file " + m.file : "") + ", " + m.size + " bytes");
    if (row && row.copies.length) {
      meta(list, "retransmissions", row.copies.map(function (i) {
        var c = messages.get(i);
        return c.t.dialog + " (frame " + c.frame + ")";
      }).join(", "));
    }
    if (m.problems) meta(list, "problems", m.problems.join("; "));
    if (m.truncated) meta(list, "truncated", "the capture holds less than Content-Length promised");
    document.getElementById("detail-text").textContent = m.text;
    if (ladder) {
      Array.prototype.forEach.call(ladder.querySelectorAll("tr.picked"), function (tr) { tr.classList.remove("picked"); });
      var picked = ladder.querySelector('tr.msg[data-message="' + index + '"]');
      if (picked) picked.classList.add("picked");
    }
    if (!detail.open) detail.showModal();
  }

  if (ladder) {
    ladder.addEventListener("click", function (ev) {
      var b = ev.target.closest("button.arrow");
      if (!b) return;
      var index = Number(b.dataset.message);
      var d = current === null ? null : dialogOf(current);
      var row = d ? d.rows.find(function (r) { return r.m === index; }) : null;
      show(index, row);
    });
  }
  document.getElementById("detail-close").addEventListener("click", function () { detail.close(); });
  detail.addEventListener("click", function (ev) { if (ev.target === detail) detail.close(); });

  // -- controls ------------------------------------------------------------------------------

  document.getElementById("time").addEventListener("change", function (ev) {
    if (ev.target.name !== "time") return;
    mode = ev.target.value;
    updateStartColumn();
    if (current !== null) draw(current);
  });
  var fullBox = document.getElementById("full");
  if (fullBox) {
    fullBox.addEventListener("change", function () {
      full = fullBox.checked;
      if (current !== null) draw(current);
    });
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.target.closest && ev.target.closest("input, textarea, dialog")) return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === "n" || ev.key === "p") {
      var link = ladder && ladder.querySelectorAll(".dlg-nav a")[ev.key === "n" ? 1 : 0];
      if (link && link.href) location.hash = link.hash;
    } else if (ev.key === "/" && filterInput) {
      ev.preventDefault();
      filterInput.focus();
    }
  });

  window.addEventListener("hashchange", route);
  // The browser may keep a form control's state across reloads: start from what it shows.
  var checked = document.querySelector('#time input[name="time"]:checked');
  if (checked) mode = checked.value;
  if (fullBox) full = fullBox.checked;
  updateStartColumn();
  route();
})();
