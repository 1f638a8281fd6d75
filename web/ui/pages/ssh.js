/* SSH attacks (ssh_auth_simple): guessing attempts over time, the top guessers and attacked
 * servers, and the attacks themselves. Served by GET /api/detections?type=ssh_auth_simple. */
(() => {
  const { $, api, qs, fillTable, chart, localTime } = S4F;

  async function load() {
    const p = { ...S4F.range(), type: "ssh_auth_simple", address: $("ssh-address").value.trim(), size: 100 };
    let j;
    try { j = await api("GET", "/api/detections" + qs(p)); $("ssh-error").textContent = ""; }
    catch (e) { if (e.status !== 401) $("ssh-error").textContent = e.message; return; }
    const series = j.histogram.series.ssh_auth_simple || j.histogram.t.map(() => 0);
    chart("chart-ssh", "SSH attacks", ["ssh_auth_simple"], j.histogram.t, [series], { bars: true });
    const filterBy = (ip) => { $("ssh-address").value = ip; load(); };
    fillTable("ssh-sources", j.top_sources.map((s) => ({ cells: [S4F.addressCell(s.ip), s.detections, s.flows], data: s.ip })), filterBy);
    fillTable("ssh-victims", j.top_victims.map((s) => ({ cells: [S4F.addressCell(s.ip), s.detections, s.flows], data: s.ip })), filterBy);
    $("ssh-empty").hidden = j.total > 0;
    $("ssh-total").textContent = "(" + j.total + " in range, newest " + j.items.length + " shown)";
    fillTable("ssh-table", j.items.map((d) => ({
      cells: [localTime(d["@timestamp"]), S4F.addressCell(d.src_ip), S4F.addressCell(d.dst_ip), d.flows, d.average_packet_count,
        d.timestamp ? localTime(d.timestamp) : "", Math.round((d.duration_in_milliseconds || 0) / 1000)],
      data: d })), (d) => { location.hash = "#/hosts/" + encodeURIComponent(d.dst_ip); });
  }

  function wire() {
    $("ssh-apply").addEventListener("click", load);
  }

  S4F.pages.ssh = { load, wire };
})();
