/* The host map (#/hostmap?net=…&color=…): for an IPv4 network (default: the first local one),
 * one cell per address, rows by third octet and columns by fourth (/16 to /19: one cell per
 * /24; /8 to /15: one cell per /16), coloured by flows, bytes or detections on a log scale; a
 * cell opens the host's profile (a network cell: the map of that network). */
"use strict";
(() => {
  const { $, el, api, qs, fmt } = S4F;
  const COLORS = { flows: [31, 95, 139], bytes: [44, 160, 44], detections: [179, 38, 30] };

  async function load() {
    const color = S4F.param("color") || "flows";
    let j;
    try {
      j = await api("GET", "/api/hostmap" + qs({ ...S4F.range(), net: S4F.param("net") || "" }));
      $("hm-error").textContent = "";
    } catch (e) {
      if (e.status !== 401) {
        $("hm-error").textContent = e.message;
        $("hm-grid").replaceChildren();
        $("hm-grid").dataset.empty = e.message;
      }
      return;
    }
    if (document.activeElement !== $("hm-net")) $("hm-net").value = j.net;
    $("hm-color").value = color;
    const max = Math.max(1, ...j.cells.map((c) => c[color]));
    const rgb = COLORS[color] || COLORS.flows;
    const grid = $("hm-grid");
    grid.replaceChildren();
    grid.style.gridTemplateColumns = "110px repeat(" + j.cols + ", minmax(3px, " + (j.cols <= 16 ? "60px" : "1fr") + "))";
    grid.dataset.cells = String(j.cells.length);
    grid.dataset.net = j.net;
    if (j.cells.length) delete grid.dataset.empty;
    else grid.dataset.empty = "No host_stats results for " + j.net + " in this range.";
    $("hm-note").textContent = grid.dataset.empty || (j.cell === "address" ? "one cell per address" : "one cell per " + j.cell + ": click one to open it") +
      " · darkest: " + fmt(max) + " " + color;
    // Column headings every 16 columns.
    grid.appendChild(el("div", "", "hm-corner"));
    for (let c = 0; c < j.cols; c++)
      grid.appendChild(el("div", j.cols <= 16 ? "+" + c : (c % 16 === 0 ? "." + (j.first + c) : ""), "hm-col"));
    const byPos = new Map(j.cells.map((c) => [c.row * j.cols + c.col, c]));
    for (let r = 0; r < j.rows; r++) {
      grid.appendChild(el("div", j.row_labels[r], "hm-row"));
      for (let c = 0; c < j.cols; c++) {
        const cell = byPos.get(r * j.cols + c);
        if (!cell || !cell[color]) {
          const d = el("div", "", "hm-cell empty");
          if (cell) d.title = cell.key + ": no " + color;
          grid.appendChild(d);
          continue;
        }
        const a = el("a", "", "hm-cell");
        const f = Math.log1p(cell[color]) / Math.log1p(max);
        a.style.background = `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${(0.15 + 0.85 * f).toFixed(3)})`;
        a.title = `${cell.key}: ${fmt(cell.flows)} flows, ${fmt(cell.bytes)} bytes, ${fmt(cell.detections)} detections`;
        a.dataset.key = cell.key;
        a.href = j.cell === "address" ? S4F.hostLink(cell.key) : "#/hostmap?" + new URLSearchParams({ ...S4F.range(), net: cell.key, color });
        grid.appendChild(a);
      }
    }
  }

  function wire() {
    const apply = () => S4F.setParams({ net: $("hm-net").value.trim(), color: $("hm-color").value });
    $("hm-form").addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
    $("hm-color").addEventListener("change", apply);
  }

  S4F.pages.hostmap = { load, wire };
})();
