/* DDoS victims (detection.ddos): each victim's in/out packet ratio of the window against its
 * long-term ratio over time, the victims, and the reports with their top attackers. Served by
 * GET /api/detections?type=detection.ddos. */
(() => {
  const { $, api, qs, fillTable, chart, localTime } = S4F;
  const TOP = 4; /* victims drawn in the chart */

  async function load() {
    const p = { ...S4F.range(), type: "detection.ddos", address: $("ddos-address").value.trim(), size: 500 };
    let j;
    try { j = await api("GET", "/api/detections" + qs(p)); $("ddos-error").textContent = ""; }
    catch (e) { if (e.status !== 401) $("ddos-error").textContent = e.message; return; }
    const victims = j.top_victims.slice(0, TOP).map((v) => v.ip);
    const times = [...new Set(j.items.map((d) => Date.parse(d["@timestamp"])))].sort((a, b) => a - b);
    const at = new Map(times.map((t, i) => [t, i]));
    const names = [], ys = [];
    for (const v of victims) {
      const short = times.map(() => null), long = times.map(() => null);
      for (const d of j.items) if (d.dst_ip === v) {
        const i = at.get(Date.parse(d["@timestamp"]));
        short[i] = d.shortratio; long[i] = d.longratio;
      }
      names.push(v + " window", v + " long term"); ys.push(short, long);
    }
    if (!names.length) { names.push("none"); ys.push(times.map(() => 0)); }
    chart("chart-ddos", "in/out ratio", names, times, ys);
    const filterBy = (ip) => { $("ddos-address").value = ip; load(); };
    fillTable("ddos-victims", j.top_victims.map((s) => ({ cells: [S4F.addressCell(s.ip), s.detections], data: s.ip })), filterBy);
    $("ddos-empty").hidden = j.total > 0;
    $("ddos-total").textContent = "(" + j.total + " in range, newest " + j.items.length + " shown)";
    fillTable("ddos-table", j.items.map((d) => ({
      cells: [localTime(d["@timestamp"]), S4F.addressCell(d.dst_ip), d.shortratio, d.longratio, d.packets_in, d.sources,
        (d.attackers || []).slice(0, 5).join(" ") + ((d.attackers || []).length > 5 ? " …" : "")],
      data: d })), (d) => { location.hash = "#/hosts/" + encodeURIComponent(d.dst_ip); });
  }

  function wire() {
    $("ddos-apply").addEventListener("click", load);
  }

  S4F.pages.ddos = { load, wire };
})();
