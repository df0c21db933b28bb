// sipsniff ladder page, learn mode (read --explain): puts each arrow's explanation under it and the
// story of the dialog above its ladder, from the JSON block "explain-data"; shows the explanation in
// the message panel when an arrow is clicked; the "explain" box shows or hides them.
// Packet text is only ever inserted with textContent, never as markup.
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("explain-data").textContent);
  var ladder = document.getElementById("ladder");
  var box = document.getElementById("explain");
  if (!ladder) return;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function sentence(s) {
    var p = el("p", "", s.text);
    if (s.refs) p.appendChild(el("span", "refs", " (" + s.refs + ")"));
    p.appendChild(document.createTextNode("."));
    return p;
  }

  function explanation(row) {
    var div = el("div", "explain-text");
    row.sentences.forEach(function (s) { div.appendChild(sentence(s)); });
    if (row.headers.length) {
      var ul = el("ul");
      row.headers.forEach(function (h) {
        var li = el("li");
        li.appendChild(el("b", "", h.name + ": "));
        li.appendChild(document.createTextNode(h.text + (h.refs ? " (" + h.refs + ")" : "")));
        ul.appendChild(li);
      });
      div.appendChild(ul);
    }
    return div;
  }

  function decorate() {
    var rows = ladder.querySelectorAll("tr.msg");
    if (!rows.length || ladder.querySelector("tr.explain, .explain-summary")) return;
    var first = data.rows[rows[0].dataset.message];
    var story = first ? data.dialogs[first.d] : null;
    var sub = ladder.querySelector(".dlg-sub");
    if (story && sub) {
      var summary = el("div", "explain-summary");
      summary.appendChild(sentence(story));
      sub.after(summary);
    }
    Array.prototype.forEach.call(rows, function (tr) {
      var row = data.rows[tr.dataset.message];
      if (!row) return;
      var after = tr.nextElementSibling && tr.nextElementSibling.classList.contains("text")
        ? tr.nextElementSibling : tr;
      var line = el("tr", "explain");
      line.dataset.message = tr.dataset.message;
      var cell = el("td");
      cell.colSpan = tr.cells.length;
      cell.appendChild(explanation(row));
      line.appendChild(cell);
      after.after(line);
    });
  }

  new MutationObserver(decorate).observe(ladder, { childList: true });
  decorate();

  // The message panel (drawn by the ladder's script, whose listener runs first): add the
  // explanation of the arrow clicked.
  ladder.addEventListener("click", function (ev) {
    var b = ev.target.closest("button.arrow");
    if (!b) return;
    var row = data.rows[b.dataset.message];
    var list = document.getElementById("detail-meta");
    if (!row || !list) return;
    list.appendChild(el("dt", "", "explained"));
    var dd = el("dd", "explained");
    dd.appendChild(explanation(row));
    list.appendChild(dd);
  });

  function apply() {
    document.body.classList.toggle("no-explain", !box.checked);
  }
  if (box) {
    box.addEventListener("change", apply);
    apply();
  }
})();
