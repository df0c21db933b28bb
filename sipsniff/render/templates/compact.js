// sipsniff ladder page, compact form (a big capture; html_compact.py describes the data): draws the
// call list a screenful at a time from the dialog table, and builds the ladder of a dialog, when it
// is drawn, from the message table of its chunk, as the full page is given it: the rules of
// analysis/ladder.py, the words of render/notes.py, the time formats of render/base.py.
// Packet text is only ever inserted with textContent (or the title property), never as markup.
(function () {
  "use strict";

  window.sipsniffCompact = function (data, messages) {
    var c = data.compact;
    var strings = c.strings;
    var res = c.resolution;
    var origin = BigInt(c.origin);
    var NONE = BigInt(c.none);
    var DF = names(c.dialogFields), MF = names(c.messageFields);
    var DS = c.dialogFields.length, MS = c.messageFields.length;
    // The dialog table: in the data when listed, else packed in an element of its own.
    var table = ints(c.dialogs !== null ? c.dialogs
      : document.getElementById("dialog-table").textContent);
    var count = table.length / DS;  // the table is a column after another

    function names(list) {
      var at = {};
      list.forEach(function (name, i) { at[name] = i; });
      return at;
    }

    // A table of integers, packed or listed (html_compact.packed, .listed): get(i) is its i-th
    // integer as a BigInt (or null), num(i) as a number (for those a double holds).
    function ints(table) {
      if (typeof table !== "string") {
        return {
          length: table.length,
          get: function (i) { return table[i] === null ? null : BigInt(table[i]); },
          num: function (i) { return table[i]; }
        };
      }
      var bytes;
      if (Uint8Array.fromBase64) {
        bytes = Uint8Array.fromBase64(table);
      } else {
        var bin = atob(table);
        bytes = new Uint8Array(bin.length);
        for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      }
      var view = new DataView(bytes.buffer);
      return {
        length: bytes.length / 8,
        get: function (i) {
          var v = view.getBigInt64(i * 8, true);
          return v === NONE ? null : v;
        },
        num: function (i) { return Number(view.getBigInt64(i * 8, true)); }
      };
    }

    function time(p, name) { return table.get(DF[name] * count + p); }
    function field(p, name) { return table.num(DF[name] * count + p); }
    function text(p, name) { return strings[field(p, name)]; }

    var order = [], at = new Map();
    for (var p = 0; p < count; p++) {
      order.push(field(p, "index"));
      at.set(field(p, "index"), p);
    }
    // The chunk of each dialog, and where its messages start in it.
    var chunkOf = new Int32Array(count), firstOf = new Int32Array(count);
    for (var k = -1, n = 0, q = 0; q < count; q++) {
      if (k + 1 < c.chunks.length && c.chunks[k + 1] === q) { k += 1; n = 0; }
      chunkOf[q] = k;
      firstOf[q] = n;
      n += field(q, "messages");
    }

    // -- times: integers of nanoseconds, as render/base.py formats them ---------------------

    var NS = 1000000000n;
    var digits = Math.min(Math.max(res, 0), 9);
    var unit = 10n ** BigInt(9 - digits);

    function pad(value, width) {
      var s = String(value);
      while (s.length < width) s = "0" + s;
      return s;
    }

    function floorDiv(a, b) {
      var q = a / b;
      return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
    }

    function seconds(ns, sign) {
      var prefix = ns < 0n ? "-" : sign ? "+" : "";
      var v = ns < 0n ? -ns : ns;
      if (!digits) return prefix + (v / NS);
      return prefix + (v / NS) + "." + pad(v % NS / unit, digits);
    }

    function significant(value, by, most) {
      var whole = value / by;
      var decimals = Math.min(Math.max(0, 4 - String(whole).length), Math.max(most, 0));
      var scaled = value * 10n ** BigInt(decimals) / by;
      if (!decimals) return String(scaled);
      var p10 = 10n ** BigInt(decimals);
      return (scaled / p10) + "." + pad(scaled % p10, decimals);
    }

    function duration(ns, sign) {
      var prefix = ns < 0n ? "-" : sign ? "+" : "";
      var v = ns < 0n ? -ns : ns;
      var body;
      if (v === 0n) body = "0 s";
      else if (v < 1000n) body = v + " ns";
      else if (v < 1000000n) body = significant(v, 1000n, digits - 6) + " µs";
      else if (v < NS) body = significant(v, 1000000n, digits - 3) + " ms";
      else if (v < 1000n * NS) body = significant(v, NS, digits) + " s";
      else {
        var total = v / NS, hours = total / 3600n, mins = total % 3600n / 60n, secs = total % 60n;
        body = hours ? hours + "h" + pad(mins, 2) + "m" + pad(secs, 2) + "s" : mins + "m" + pad(secs, 2) + "s";
      }
      return prefix + body;
    }

    // The UTC offset at secs, from a zone table (html_compact.zone_table).
    function offsetAt(zones, secs) {
      var lo = 0, hi = zones.length - 1;
      if (hi < 0) return 0;
      while (lo < hi) {
        var mid = (lo + hi + 1) >> 1;
        if (zones[mid][0] <= secs) lo = mid; else hi = mid - 1;
      }
      return zones[lo][1];
    }

    // Wall-clock time of ts (ns since the epoch): the UTC time of ts plus its zone's offset.
    function clock(ts, date, zones) {
      var whole = floorDiv(ts, NS);
      var secs = Number(whole);
      var w = new Date((secs + offsetAt(zones, secs)) * 1000);
      var out = pad(w.getUTCHours(), 2) + ":" + pad(w.getUTCMinutes(), 2) + ":" + pad(w.getUTCSeconds(), 2);
      if (date) out = w.getUTCFullYear() + "-" + pad(w.getUTCMonth() + 1, 2) + "-" + pad(w.getUTCDate(), 2) + " " + out;
      if (digits) out += "." + pad((ts - whole * NS) / unit, digits);
      return out;
    }

    function zoneName(ts) {
      var offset = offsetAt(c.zones, Number(floorDiv(ts, NS)));
      if (!offset) return "UTC";
      var minutes = Math.floor(offset / 60), abs = Math.abs(minutes);
      return "UTC" + (minutes >= 0 ? "+" : "-") + pad(Math.floor(abs / 60), 2) + ":" + pad(abs % 60, 2);
    }

    // -- chunks ---------------------------------------------------------------------------------

    var chunks = [];

    // A chunk, parsed the first time; null while the browser has not read all of it.
    function chunk(k) {
      if (chunks[k]) return chunks[k];
      var next = document.getElementById("chunk-" + (k + 1));
      if (k > 0 && !next && document.readyState === "loading") return null;
      // The tables as JSON, then each message's text after a form feed and "|", its "<" written
      // form feed and "-" (html_text.message_texts).
      var texts = document.getElementById("chunk-" + k).textContent.split("\f|");
      var a = JSON.parse(texts[0]);
      a.table = ints(a.table);
      a.count = a.table.length / MS;  // the table is a column after another
      a.texts = texts;
      chunks[k] = a;
      return a;
    }

    // -- the ladder of a dialog, as html.py gives it to the full page ----------------------------

    var built = null;

    function party(name, uri) { return name ? name + " <" + uri + ">" : uri; }

    function dialog(index) {
      if (built && built.index === index) return built;
      var p = at.get(index);
      var ch = chunk(chunkOf[p]);
      if (!ch) return null;
      var s = ch.strings;
      var start = time(p, "start");
      var d = {
        index: index, first_method: text(p, "method"), state: text(p, "state"),
        from: text(p, "from"), from_name: text(p, "from_name"), to: text(p, "to"),
        to_name: text(p, "to_name"), call_id: text(p, "call_id"),
        durationText: duration(time(p, "duration")), zone: "time " + zoneName(origin + start),
        lanes: [], rows: []
      };
      function get(k, name) { return ch.table.get(MF[name] * ch.count + k); }
      function num(k, name) { return ch.table.num(MF[name] * ch.count + k); }
      // Columns in order of first appearance (by host: an IP address each); each takes the agent
      // of the first message it sends that names one; retransmissions fold into their original.
      var lanes = new Map(), agents = [], times = new Map(), byRoot = new Map(), arrows = [];
      function lane(e) {
        var key = c.byHost ? ch.hosts[e] : e;
        var l = lanes.get(key);
        if (l === undefined) {
          l = lanes.size;
          lanes.set(key, l);
          d.lanes.push({ addr: s[key], agent: "" });
        }
        return l;
      }
      var first = firstOf[p], total = field(p, "messages");
      for (var k = first; k < first + total; k++) {
        var id = num(k, "index"), t = get(k, "t");
        var route = ch.routes[num(k, "route")], look = ch.looks[num(k, "look")];
        var src = lane(route[0]), dst = lane(route[1]);
        if (agents[src] === undefined && ch.agents[k] !== undefined) agents[src] = s[ch.agents[k]];
        var ts = start + t;
        var msg = {
          index: id, frame: num(k, "frame"), src: s[route[0]], dst: s[route[1]],
          transport: s[route[2]], dialog: ch.dialogs[k] === undefined ? index : ch.dialogs[k],
          size: num(k, "size"), label: s[look[0]], "class": c.classes[look[1]],
          t: { abs: clock(origin + ts, false, ch.zones), rel: seconds(ts), dialog: seconds(t) },
          text: ch.texts[k + 1].replace(/\f-/g, "<")
        };
        if (c.several) msg.file = route[3];
        if (ch.truncated.indexOf(k) >= 0) msg.truncated = true;
        if (ch.problems[k] !== undefined) msg.problems = ch.problems[k];
        messages.set(id, msg);
        times.set(id, t);
        var root = ch.roots[k] === undefined ? id : ch.roots[k];
        var copies = byRoot.get(root);
        if (copies !== undefined && root !== id) {
          copies.push(id);
          continue;
        }
        copies = [];
        byRoot.set(root, copies);
        arrows.push({ id: id, t: t, src: src, dst: dst, copies: copies, look: look, spent: get(k, "spent"), msg: msg });
      }
      agents.forEach(function (agent, l) { d.lanes[l].agent = agent; });
      var prev = null;
      arrows.forEach(function (a) {
        var notes = [];
        if (a.look[2]) notes.push("challenge");
        if (a.spent !== null) notes.push(duration(a.spent) + " after the request");
        if (a.copies.length) {
          var last = a.t;
          a.copies.forEach(function (id) { if (times.get(id) > last) last = times.get(id); });
          var later = duration(last - a.t);
          notes.push(a.copies.length === 1 ? "retransmitted " + later + " later"
            : "retransmitted " + a.copies.length + " times, the last " + later + " later");
        }
        if (a.msg.truncated) notes.push("truncated");
        if (a.msg.problems) {
          var many = a.msg.problems.length;
          notes.push(many + " syntax problem" + (many > 1 ? "s" : ""));
        }
        d.rows.push({
          m: a.id, src: a.src, dst: a.dst, copies: a.copies,
          delta: prev === null ? seconds(0n) : seconds(a.t - prev, true),
          gap: prev === null ? "" : duration(a.t - prev, true),
          info: s[a.look[3]], notes: notes
        });
        prev = a.t;
      });
      built = d;
      return d;
    }

    // -- the call list: the rows in view, between two spacers -------------------------------------

    var tbody = document.getElementById("call-rows");
    var box = tbody ? tbody.closest(".scroll") : null;
    var shown = order.map(function (index, p) { return p; });
    var mode = data.time, current = null, rowHeight = 0, printing = false, pending = false;
    var search = null;
    var SPARE = 10;

    function startText(p, m) {
      var start = time(p, "start");
      return m === "abs" ? clock(origin + start, c.byDate, c.zones) : seconds(start);
    }

    function cell(tr, cls, value, title) {
      var td = document.createElement("td");
      if (cls) td.className = cls;
      td.textContent = String(value);
      if (title !== undefined) td.title = title;
      tr.appendChild(td);
      return td;
    }

    function row(p) {
      var index = field(p, "index");
      var tr = document.createElement("tr");
      tr.id = "call-" + index;
      tr.dataset.index = String(index);
      tr.dataset.callId = text(p, "call_id");
      var idx = cell(tr, "num", data.ladders ? "" : index);
      if (data.ladders) {
        var a = document.createElement("a");
        a.href = "#dialog-" + index;
        a.textContent = String(index);
        idx.appendChild(a);
      }
      var start = cell(tr, "num time start", startText(p, mode));
      start.dataset.abs = startText(p, "abs");
      start.dataset.rel = startText(p, "rel");
      cell(tr, "method", text(p, "method"), text(p, "method"));
      cell(tr, "party", party(text(p, "from_name"), text(p, "from")), text(p, "from"));
      cell(tr, "party", party(text(p, "to_name"), text(p, "to")), text(p, "to"));
      var route = text(p, "src") + " → " + text(p, "dst");
      cell(tr, "addr", route, route);
      cell(tr, "num", field(p, "messages"));
      cell(tr, "state " + text(p, "tone"), text(p, "state"), text(p, "state"));
      cell(tr, "num", duration(time(p, "duration")));
      if (index === current) tr.setAttribute("aria-current", "true");
      return tr;
    }

    function spacer(height) {
      var tr = document.createElement("tr");
      tr.className = "spacer";
      tr.setAttribute("aria-hidden", "true");
      var td = document.createElement("td");
      td.colSpan = 9;
      td.style.height = height + "px";
      tr.appendChild(td);
      return tr;
    }

    function render() {
      pending = false;
      if (!tbody) return;
      var height = rowHeight || 24;
      var from = 0, to = shown.length;
      if (!printing) {
        var top = box ? box.scrollTop : 0, view = box ? box.clientHeight : 600;
        from = Math.max(0, Math.min(shown.length, Math.floor(top / height) - SPARE));
        to = Math.min(shown.length, Math.ceil((top + view) / height) + SPARE);
      }
      var frag = document.createDocumentFragment();
      if (from > 0) frag.appendChild(spacer(from * height));
      for (var i = from; i < to; i++) frag.appendChild(row(shown[i]));
      if (to < shown.length) frag.appendChild(spacer((shown.length - to) * height));
      tbody.replaceChildren(frag);
      if (!rowHeight && to > from) {
        var first = tbody.querySelector("tr:not(.spacer)");
        rowHeight = first.getBoundingClientRect().height;
        if (rowHeight && Math.abs(rowHeight - height) > 0.5) render();
      }
    }

    function later() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(render);
    }

    if (box) box.addEventListener("scroll", later);
    window.addEventListener("resize", later);
    window.addEventListener("beforeprint", function () { printing = true; render(); });
    window.addEventListener("afterprint", function () { printing = false; render(); });

    // What the filter looks in: the row's text, its Call-ID and the URIs of From and To (as the
    // full page's filter reads them off its rows).
    function searchText(p) {
      return [field(p, "index"), startText(p, mode), text(p, "method"),
        party(text(p, "from_name"), text(p, "from")), party(text(p, "to_name"), text(p, "to")),
        text(p, "src") + " → " + text(p, "dst"), field(p, "messages"), text(p, "state"),
        duration(time(p, "duration")), text(p, "call_id"), text(p, "from"), text(p, "to")
      ].join(" ").toLowerCase();
    }

    var list = {
      total: count,
      shown: function () { return shown.map(function (p) { return order[p]; }); },
      filter: function (terms) {
        if (search === null) search = order.map(function (index, p) { return searchText(p); });
        shown = [];
        for (var p = 0; p < count; p++) {
          var hay = search[p];
          if (terms.every(function (t) { return hay.indexOf(t) >= 0; })) shown.push(p);
        }
        render();
        return shown.length;
      },
      current: function (index) {
        current = index;
        render();
      },
      stateClass: function (index) { return "state " + text(at.get(index), "tone"); },
      times: function (m) {
        mode = m;
        render();
      }
    };

    return {
      order: order,
      known: function (index) { return at.has(index); },
      dialog: dialog,
      list: list
    };
  };
})();
