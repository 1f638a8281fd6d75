/* pattern_finder (docs/pattern_finder.md): the keys that came close to configured patterns,
 * filtered by configuration, with the original dashboard's confidence bands, the ten keys
 * reported most often, and one result's distributions. Results come from /api/detections
 * (type pattern_finder): no endpoint of its own. */
(() => {
  const { $, api, qs, el, fillTable, localTime } = window.S4F;
  const BANDS = ["Very High", "High", "Medium", "Low", "Very Low"];

  function detail(d) {
    const box = $("pf-detail");
    box.replaceChildren();
    box.appendChild(el("h3", d.configuration + ": " + (d.vector_key || "")));
    const t = el("table", "", "grid");
    const head = document.createElement("tr");
    head.appendChild(el("th", "Pattern"));
    const bins = d.data_array && d.data_array[0] ? d.data_array[0].distribution.length : 0;
    for (let i = 0; i < bins; i++) head.appendChild(el("th", "Interval " + (i + 1)));
    t.appendChild(head);
    for (const p of d.data_array || []) {
      const tr = document.createElement("tr");
      tr.appendChild(el("td", p.name));
      for (const v of p.distribution) tr.appendChild(el("td", v, "num"));
      t.appendChild(tr);
    }
    box.appendChild(t);
    const close = (d.closest_patterns || []).map((c) => c.name + " (" + c.confidence +
      (c.ratio !== undefined ? ", " + c.ratio : "") + ")").join(", ");
    box.appendChild(el("p", "Closest: " + close));
    box.hidden = false;
  }

  async function load() {
    const p = { ...window.S4F.range(), type: "pattern_finder", size: 500 };
    let j;
    try { j = await api("GET", "/api/detections" + qs(p)); $("pf-error").textContent = ""; }
    catch (e) { if (e.status !== 401) $("pf-error").textContent = e.message; return; }
    const sel = $("pf-config"), cur = sel.value;
    const known = new Set([...sel.options].map((o) => o.value));
    for (const d of j.items) if (d.configuration && !known.has(d.configuration)) {
      known.add(d.configuration);
      sel.appendChild(el("option", d.configuration)).value = d.configuration;
    }
    sel.value = cur;
    const band = $("pf-band").value;
    const items = j.items.filter((d) => (!cur || d.configuration === cur) &&
      (!band || BANDS.indexOf(d.confidence) <= BANDS.indexOf(band)));
    /* Top 10: keys by results, then by vectors */
    const top = new Map();
    for (const d of items) {
      const k = d.configuration + "\u0000" + (d.vector_key || "");
      const t = top.get(k) || { d, n: 0, v: 0 };
      t.n++; t.v += d.vectors || 0;
      top.set(k, t);
    }
    const best = [...top.values()].sort((a, b) => b.n - a.n || b.v - a.v).slice(0, 10);
    fillTable("pf-top", best.map((t) => ({
      cells: [t.d.configuration, t.d.vector_key || "", t.n, t.v], data: t.d })), detail);
    $("pf-total").textContent = "(" + items.length + " of " + j.total + " in range)";
    fillTable("pf-table", items.map((d) => ({
      cells: [localTime(d["@timestamp"]), d.configuration, d.src_ip || d.vector_key || "", d.dst_ip || "",
        (d.closest_patterns || []).map((c) => c.name).join(", "), d.confidence, d.vectors],
      data: d })), detail);
  }

  window.S4F.pages.pattern_finder = {
    load,
    wire() {
      for (const id of ["pf-config", "pf-band"]) $(id).addEventListener("change", load);
    },
  };
})();
