// Sortable and searchable tables: click a header to sort (again to reverse); type to filter rows.
(function () {
  "use strict";

  // Cells carry their sort value in data-sort: numbers as plain numbers, empty when missing (sorted last).
  function compare(a, b) {
    if (a === "" || b === "") return (a === "") - (b === "");
    var x = Number(a), y = Number(b);
    if (!isNaN(x) && !isNaN(y)) return x - y;
    return a.localeCompare(b);
  }

  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    var descending = th.getAttribute("aria-sort") === "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var order = compare(r.cells[index].dataset.sort, s.cells[index].dataset.sort);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) { cell.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function filter(table, text) {
    var needle = text.trim().toLowerCase();
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
    });
  }

  document.querySelectorAll("table.data").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.tabIndex = 0;
      th.title = "Sort";
      th.addEventListener("click", function () { sortBy(table, index, th); });
      th.addEventListener("keydown", function (event) { if (event.key === "Enter") sortBy(table, index, th); });
    });
  });
  document.querySelectorAll("input.table-search").forEach(function (input) {
    var table = document.querySelector('table.data[data-name="' + input.dataset.table + '"]');
    if (!table) return;
    input.hidden = false;
    input.addEventListener("input", function () { filter(table, input.value); });
  });
})();
