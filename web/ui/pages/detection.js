/* A detection's detail view (#/detection/<id>): what was detected and when, its counts over the
 * windows of the same key (type and target), the same source's other detections, links to the
 * addresses' profiles and, with web.kibana_url set, into Kibana Discover. */
"use strict";
(() => {
  const { $, el, api, fmt, fillTable, chart, localTime, addressCell, chartsFailed } = S4F;
  const link = (text, href) => { const a = el("a", text); a.href = href; return a; };
  const detLink = (id) => "#/detection/" + encodeURIComponent(id) + (location.hash.includes("?") ? location.hash.slice(location.hash.indexOf("?")) : "");
  const target = (d) => d.dst_ip ? addressCell(d.dst_ip) : (d.dst_port !== undefined ? "port " + d.dst_port : "");

  async function load(id) {
    let j;
    try { j = await api("GET", "/api/detections/" + encodeURIComponent(id)); $("detd-error").textContent = ""; }
    catch (e) { if (e.status !== 401) { $("detd-error").textContent = e.message; chartsFailed(["chart-detd"], e); } return; }
    const d = j.detection;
    const title = $("detd-title");
    title.replaceChildren(el("span", d["@type"] + " from "), addressCell(d.src_ip));
    const sum = $("detd-summary");
    sum.replaceChildren();
    const card = (k, v) => { const c = el("div", null, "card"); c.appendChild(el("div", k, "k")); const w = el("div", null, "v"); w.append(v instanceof Node ? v : String(v)); c.appendChild(w); sum.appendChild(c); };
    card("When", localTime(d.window_start) + " – " + localTime(d.window_end || d["@timestamp"]));
    card("Target", target(d) || "–");
    card("Flows", fmt(d.flows));
    if (d.targets_total !== undefined) card("Targets", fmt(d.targets_total));
    if (d.duration_in_milliseconds !== undefined) card("Duration", fmt(d.duration_in_milliseconds / 1000) + " s");
    const k = $("detd-kibana");
    k.replaceChildren();
    if (j.kibana) { const a = link("Open in Kibana Discover", j.kibana); a.target = "_blank"; a.rel = "noopener noreferrer"; k.appendChild(a); }
    const w = j.windows;
    chart("chart-detd", "windows", ["flows", "targets"], w.map((x) => x.t), [w.map((x) => x.flows ?? null), w.map((x) => x.targets_total ?? null)],
      { zoom: false, emptyText: "Only this window." });
    $("detd-windows").textContent = w.length + " window(s) of the same detection within a day either side";
    const t = $("detd-fields").tBodies[0];
    t.replaceChildren();
    for (const [key, v] of Object.entries(d)) {
      const tr = document.createElement("tr");
      tr.appendChild(el("th", key)); tr.appendChild(el("td", typeof v === "object" ? JSON.stringify(v) : v));
      t.appendChild(tr);
    }
    fillTable("detd-others", j.others.map((o) => ({ cells: [localTime(o["@timestamp"]), o["@type"], target(o), o.flows, o.targets_total ?? ""], data: o.id })),
      (oid) => { if (oid) location.hash = detLink(oid); });
    $("detd-others-none").hidden = j.others.length > 0;
  }

  S4F.pages.detection = { load, wire: () => $("detd-back").addEventListener("click", () => history.back()) };
  S4F.detectionLink = detLink;
})();
