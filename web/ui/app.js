/* Stream4Flow dashboard: a small single-page app over /api/ (docs/web-api.md).
 * No framework; charts by uPlot (vendored at build time). Data is only ever written to the page
 * with textContent, never as HTML. Pages poll every refresh_ms (at most 5 s) while open. */
"use strict";

const S = { csrf: null, user: null, role: null, refreshMs: 5000, timer: null, charts: {}, page: null, prevMetrics: null,
  q: new URLSearchParams(), extent: null, extentAt: 0, esDown: false, zoomStack: [] };
const PROTOS = ["tcp", "udp", "icmp", "icmpv6", "other"];
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const $ = (id) => document.getElementById(id);

class HttpError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") opt.headers["X-CSRF-Token"] = S.csrf || "";
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (r.status === 401 && path !== "/api/login") { showLogin(); throw new HttpError(401, "signed out"); }
  if (!r.ok) throw new HttpError(r.status, (j && j.error) || r.statusText);
  return j;
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? "?" + s : "";
}

function fmt(n) {
  if (n === null || n === undefined) return "–";
  const a = Math.abs(n);
  if (a >= 1e12) return (n / 1e12).toFixed(2) + " T";
  if (a >= 1e9) return (n / 1e9).toFixed(2) + " G";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + " M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + " k";
  return String(Math.round(n * 100) / 100);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fillTable(id, rows, onClick) {
  const tb = $(id).tBodies[0];
  tb.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of r.cells) {
      if (c instanceof Node) { const td = document.createElement("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(el("td", c, typeof c === "number" ? "num" : ""));
    }
    if (onClick) tr.addEventListener("click", () => onClick(r.data));
    tb.appendChild(tr);
  }
}

function localTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

/* The line over an empty chart saying why it is empty ("" removes it). data-empty keeps the
 * reason for tests. */
function chartNote(id, text) {
  const box = $(id);
  if (!box) return;
  let n = box.querySelector(":scope > .chart-note");
  if (!text) { if (n) n.remove(); delete box.dataset.empty; return; }
  if (!n) { n = el("div", null, "chart-note"); box.appendChild(n); }
  n.textContent = text;
  box.dataset.empty = text;
}

/* Why a chart fed by results of `type` shows nothing in the range. */
function emptyReason(type) {
  if (S.esDown) return "Elasticsearch is unavailable: the charts fill again when it answers.";
  const e = S.extent;
  const t = e && type ? e.types[type] : null;
  if (e && type && !t)
    return "No " + type + " results at all yet: is its analysis running? (see System)";
  if (t && t.to_ms < Date.now() - 10 * 60000)
    return "No " + type + " results since " + localTime(t.to) + ": is its analysis running? (see System)";
  if (e && e.from_ms !== null)
    return "No data in this range (results exist from " + localTime(e.from) + " to " + localTime(e.to) + ").";
  return "No data in this range.";
}

/* Marks the charts of a page whose request failed with the reason. */
function chartsFailed(ids, err) {
  if (err.status === 502 || err.status === 503) S.esDown = true;
  const text = S.esDown ? "Elasticsearch is unavailable: the charts fill again when it answers." : "No chart: " + err.message;
  for (const id of ids) chartNote(id, text);
}

/* One uPlot per container, rebuilt when the series set changes, otherwise updated in place.
 * opts: bars (bar chart), type (the result type behind it, for the empty-chart reason),
 * zoom (false: no drag-to-zoom, for charts whose x axis is not the page's time range). */
function chart(id, title, names, xs, ys, opts) {
  opts = opts || {};
  const box = $(id);
  const width = Math.max(opts.height ? 200 : 300, box.clientWidth - 4), height = opts.height || 230;
  const key = names.join("|") + (opts.bars ? "|bars" : "");
  const data = [xs.map((t) => t / 1000), ...ys];
  let c = S.charts[id];
  box.dataset.points = String(xs.length);
  const empty = !ys.some((a) => a.some((v) => v));
  chartNote(id, empty ? (opts.emptyText || emptyReason(opts.type)) : "");
  if (c && c.key === key) { c.u.setSize({ width, height }); c.u.setData(data); return; }
  if (c) c.u.destroy();
  const series = [{}].concat(names.map((n, i) => {
    const s = { label: n, stroke: COLORS[i % COLORS.length], width: 1.5, value: (u, v) => fmt(v) };
    if (opts && opts.bars) { s.fill = COLORS[i % COLORS.length] + "99"; s.paths = uPlot.paths.bars({ size: [0.8, 40] }); }
    return s;
  }));
  // Labels get room of their own: x labels at least 90 px apart, y labels 28 px, the y axis
  // as wide as its longest formatted label.
  const hooks = opts.zoom === false ? {} : { setSelect: [(u) => {
    if (u.select.width < 4) return;
    const a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
    zoomTo(Math.floor(a * 1000), Math.ceil(b * 1000));
  }] };
  const u = new uPlot({ width, height, series, hooks,
    axes: [{ space: 90 }, { values: (u, v) => v.map(fmt), space: 28,
      size: (u, values) => values ? Math.max(48, 14 + 8 * Math.max(...values.map((v) => String(v).length))) : 48 }],
    cursor: { drag: { x: opts.zoom !== false, y: false, setScale: false } }, legend: { live: true, show: !opts.height } }, data, box);
  S.charts[id] = { u, key, height };
}

function showLogin() {
  stopTimer();
  S.csrf = null;
  $("top").hidden = true;
  $("timebar").hidden = true;
  for (const p of document.querySelectorAll(".page")) p.hidden = true;
  $("login").hidden = false;
  $("login-user").focus();
}

function stopTimer() { if (S.timer) { clearInterval(S.timer); S.timer = null; } }

function setSession(j) {
  S.csrf = j.csrf; S.user = j.user; S.role = j.role;
  S.refreshMs = Math.min(5000, j.refresh_ms || 5000);
  $("who").textContent = j.user + " (" + j.role + ")";
  $("top").hidden = false;
  $("login").hidden = true;
}

/* Pages of their own file (web/ui/pages/<name>.js, loaded after this one) register here:
 * S4F.pages[name] = { load: async (arg) => ..., wire: () => ... } shows <section id="page-<name>">
 * for #/<name>[/<arg>]; wire() runs once at start to attach its controls' listeners. The helpers
 * below are shared with them, so a page does not grow its own copy. */
const S4F = window.S4F = { pages: {}, api: (...a) => api(...a), qs: (p) => qs(p), fmt: (n) => fmt(n), el: (...a) => el(...a),
  fillTable: (...a) => fillTable(...a), chart: (...a) => chart(...a), barList: (...a) => barList(...a),
  localTime: (t) => localTime(t), route: () => route(), $,
  range: () => rangeParams(), param: (k) => S.q.get(k), setParams: (c) => setParams(c), hostLink: (ip) => hostLink(ip),
  addressCell: (ip) => addressCell(ip), chartNote: (id, t) => chartNote(id, t), chartsFailed: (ids, e) => chartsFailed(ids, e) };

/* ---- The URL: #/<page>[/<arg>][?range=…|from=…&to=…&<filters>] ----
 * The time range and every filter live in the hash, so a view is shared by its address and
 * survives a reload; links between pages keep the time range. */
const RANGE_KEYS = ["range", "from", "to"];

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const qi = h.indexOf("?");
  const path = qi < 0 ? h : h.slice(0, qi);
  const [name, ...rest] = (path || "overview").split("/");
  let arg = "";
  try { arg = decodeURIComponent(rest.join("/")); } catch (e) { arg = ""; }
  return { name, arg, q: new URLSearchParams(qi < 0 ? "" : h.slice(qi + 1)) };
}

function hashOf(name, arg, q) {
  const qs_ = q.toString();
  return "#/" + name + (arg ? "/" + encodeURIComponent(arg) : "") + (qs_ ? "?" + qs_ : "");
}

/* Changes the current view's parameters (null removes one): a new history entry. */
function setParams(changes) {
  const p = parseHash();
  for (const [k, v] of Object.entries(changes)) if (v === null || v === undefined || v === "") p.q.delete(k); else p.q.set(k, v);
  location.hash = hashOf(p.name, p.arg, p.q);
}

/* The range parameters of the current view, for a link to another page. */
function rangeQuery() {
  const q = new URLSearchParams();
  for (const k of RANGE_KEYS) if (S.q.get(k)) q.set(k, S.q.get(k));
  return q;
}

function hostLink(ip) { return hashOf("hosts", ip, rangeQuery()); }

/* A table cell value that opens the address's profile. */
function addressCell(ip) {
  if (!ip) return "";
  const a = el("a", ip, "addr");
  a.href = hostLink(ip);
  a.addEventListener("click", (ev) => ev.stopPropagation());
  return a;
}

/* The API range of the current view: from/to after a zoom, a chosen span, or (the default) the
 * span that holds data: from the oldest result of the last 24 h to now, at least 2 minutes, the
 * last hour when there is no data yet, and the last day of data when results stopped coming. */
function rangeParams() {
  const from = S.q.get("from"), to = S.q.get("to");
  if (from && to) return { from, to };
  const r = S.q.get("range");
  if (r && r !== "auto") return { range: r };
  const e = S.extent, now = Date.now();
  if (!e || e.from_ms === null || e.from_ms === undefined) return { range: "1h" };
  if (e.to_ms < now - 15 * 60000) {
    const f = Math.max(e.from_ms, e.to_ms - 86400000) - 60000;
    return { from: String(f), to: String(Math.max(e.to_ms + 60000, f + 5 * 60000)) };
  }
  const min = Math.ceil((now - Math.max(e.from_ms, now - 86400000)) / 60000) + 1;
  // Rounded so that every client asks the same question (the answer cache's key) for a while.
  if (min > 120) return { range: Math.min(24, Math.ceil(min / 60)) + "h" };
  return { range: (min <= 10 ? Math.max(2, min) : Math.ceil(min / 5) * 5) + "m" };
}

function spanText(p) {
  if (p.from) return localTime(Number(p.from)) + " – " + localTime(Number(p.to));
  return "last " + p.range.replace(/m$/, " min").replace(/h$/, " h").replace(/d$/, " days");
}

function zoomTo(fromMs, toMs) {
  if (!(toMs > fromMs)) return;
  if (toMs - fromMs < 60000) { const c = (fromMs + toMs) / 2; fromMs = Math.floor(c - 30000); toMs = Math.ceil(c + 30000); }
  S.zoomStack.push(rangeQuery().toString());
  if (S.zoomStack.length > 50) S.zoomStack.shift();
  setParams({ range: null, from: String(fromMs), to: String(toMs) });
}

function zoomBack() {
  const prev = S.zoomStack.length ? new URLSearchParams(S.zoomStack.pop()) : new URLSearchParams();
  const c = {};
  for (const k of RANGE_KEYS) c[k] = prev.get(k);
  setParams(c);
}

/* The time bar shared by every page: the chosen span, the resolved range, and Back after a zoom. */
function showTimebar(page) {
  const bar = $("timebar");
  bar.hidden = page === "system";
  const zoomed = S.q.get("from") && S.q.get("to");
  const sel = $("tb-range");
  sel.value = zoomed ? "zoom" : (S.q.get("range") || "auto");
  if (sel.value === "") sel.value = "auto";
  $("tb-zoom").hidden = !zoomed;
  $("tb-back").hidden = !zoomed;
  const p = rangeParams(), e = S.extent;
  $("tb-span").textContent = spanText(p) + (e && e.from ? " · results from " + localTime(e.from) + " to " + localTime(e.to) : " · no results yet");
}

/* The extent is read at most every 10 s. A reload starts from the copy kept in sessionStorage
 * (if under a minute old) and refreshes it in the background, so the first charts do not wait
 * for a second question. */
async function refreshExtent() {
  if (Date.now() - S.extentAt < 10000 && S.extent) return;
  if (!S.extent) {
    try {
      const kept = JSON.parse(sessionStorage.getItem("s4f-extent") || "null");
      if (kept && Date.now() - kept.at < 60000 && kept.extent) {
        S.extent = kept.extent;
        S.extentAt = kept.at;
        fetchExtent();
        return;
      }
    } catch (e) { /* no storage: ask */ }
  }
  await fetchExtent();
}

async function fetchExtent() {
  S.extentAt = Date.now();
  try {
    S.extent = await api("GET", "/api/extent"); S.esDown = false;
    try { sessionStorage.setItem("s4f-extent", JSON.stringify({ at: S.extentAt, extent: S.extent })); } catch (e) { /* full or off */ }
  } catch (e) { S.extentAt = 0; if (e.status === 502 || e.status === 503) S.esDown = true; if (e.status === 401) throw e; }
}

/* Routes: #/overview, #/detections, #/hosts, #/hosts/<address>, #/dns, #/system, and pages of
 * their own file; each with ?<parameters>. */
async function route() {
  if (!S.csrf) return;
  stopTimer();
  const { name, arg, q } = parseHash();
  S.q = q;
  for (const p of document.querySelectorAll(".page")) p.hidden = true;
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.page === name);
    a.href = hashOf(a.dataset.page, "", rangeQuery());
  }
  const pages = { overview: loadOverview, detections: loadDetections, hosts: arg ? loadHost : loadHosts, dns: loadDns, system: loadSystem };
  for (const [k, v] of Object.entries(S4F.pages)) pages[k] = v.load;
  const fn = pages[name] || loadOverview;
  const section = fn === loadHost ? "host" : (pages[name] ? name : "overview");
  $("page-" + section).hidden = false;
  S.page = section;
  syncControls();
  const gen = S.routeGen = (S.routeGen || 0) + 1;
  const run = async () => {
    try {
      if (section !== "system") await refreshExtent();
      if (gen !== S.routeGen) return;
      showTimebar(section);
      await fn(arg);
    } catch (e) { if (e.status !== 401) console.warn(e); }
  };
  await run();
  if (gen === S.routeGen) S.timer = setInterval(run, S.refreshMs);
}

/* Page controls from the URL's parameters. */
const CONTROLS = { "ov-interval": "interval", "det-type": "type", "det-address": "address", "hosts-order": "order", "dns-top": "top" };
function syncControls() {
  for (const [id, k] of Object.entries(CONTROLS)) {
    const c = $(id), v = S.q.get(k) || "";
    if (c.tagName === "SELECT" && v && ![...c.options].some((o) => o.value === v)) c.appendChild(el("option", v)).value = v;
    if (document.activeElement !== c) c.value = v || (c.tagName === "SELECT" ? c.options[0].value : "");
  }
}

/* ---- Overview ---- */
async function loadOverview() {
  let j;
  try { j = await api("GET", "/api/protocols" + qs({ ...rangeParams(), interval: S.q.get("interval") || "" })); $("ov-error").textContent = ""; }
  catch (e) { if (e.status !== 401) { $("ov-error").textContent = e.message; chartsFailed(["chart-flows", "chart-packets", "chart-bytes"], e); } return; }
  $("last-window").textContent = j.last_window ? localTime(j.last_window) : "none yet";
  $("last-window").dataset.iso = j.last_window || "";
  fillTable("totals", PROTOS.concat(["all"]).map((p) => ({ cells: [p, j.totals_5m[p].flows, j.totals_5m[p].packets, j.totals_5m[p].bytes] })));
  for (const f of ["flows", "packets", "bytes"])
    chart("chart-" + f, f, PROTOS, j.t, PROTOS.map((p) => j.series[p][f]), { type: "protocols_statistics" });
}

/* ---- Detections ---- */
async function loadDetections() {
  const p = { ...rangeParams(), type: S.q.get("type") || "", address: S.q.get("address") || "", size: 50 };
  let j;
  try { j = await api("GET", "/api/detections" + qs(p)); $("det-error").textContent = ""; }
  catch (e) { if (e.status !== 401) { $("det-error").textContent = e.message; chartsFailed(["chart-detections"], e); } return; }
  const sel = $("det-type"), cur = sel.value;
  const known = new Set([...sel.options].map((o) => o.value));
  for (const t of j.types) if (!known.has(t.type)) sel.appendChild(el("option", t.type)).value = t.type;
  sel.value = cur;
  const names = Object.keys(j.histogram.series);
  chart("chart-detections", "detections", names.length ? names : ["none"], j.histogram.t,
    names.length ? names.map((n) => j.histogram.series[n]) : [j.histogram.t.map(() => 0)],
    { bars: true, emptyText: S.esDown ? null : (j.total === 0 && !p.type && !p.address ? "No detections in this range: nothing suspicious was seen (or the detecting analyses are not running: see System)." : "No detections match in this range.") });
  const filterBy = (ip) => setParams({ address: ip });
  fillTable("det-sources", j.top_sources.map((s) => ({ cells: [addressCell(s.ip), s.detections, s.flows], data: s.ip })), filterBy);
  fillTable("det-victims", j.top_victims.map((s) => ({ cells: [addressCell(s.ip), s.detections, s.flows], data: s.ip })), filterBy);
  fillTable("det-ports", j.top_ports.map((s) => ({ cells: [s.port, s.detections] })));
  $("det-total").textContent = "(" + j.total + " in range, newest " + j.items.length + " shown)";
  fillTable("det-table", j.items.map((d) => ({
    cells: [localTime(d["@timestamp"]), d["@type"], addressCell(d.src_ip), d.src_country || "", asText(d.src_as, d.src_as_org), d.dst_ip ? addressCell(d.dst_ip) : (d.dst_port !== undefined ? "port " + d.dst_port : ""), d.flows, d.targets_total],
    data: d })), (d) => { if (d.id) location.hash = S4F.detectionLink(d.id); else showDetection(d); });
}

function showDetection(d) {
  const box = $("det-detail");
  box.replaceChildren();
  box.appendChild(el("h3", d["@type"] + (d.src_ip ? " from " + d.src_ip : " against " + d.dst_ip)));
  const t = el("table"); t.className = "grid";
  for (const [k, v] of Object.entries(d)) {
    const tr = document.createElement("tr");
    tr.appendChild(el("th", k)); tr.appendChild(el("td", typeof v === "object" ? JSON.stringify(v) : v));
    t.appendChild(tr);
  }
  box.appendChild(t);
  for (const ip of [d.src_ip, d.dst_ip]) if (ip) {
    const a = el("a", "Profile of " + ip); a.href = hostLink(ip);
    box.appendChild(el("span", " ")); box.appendChild(a);
  }
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

/* ---- DNS ---- */
const DNS_STATS = [["queried_domain", "Queried domains"], ["nonexisting_domain", "Non-existing domains (NXDOMAIN)"],
  ["response_code", "Response codes"], ["record_type", "Record types"], ["queried_by_ip", "Queried by host"],
  ["external_dns", "External DNS servers used"], ["queried_local", "Resolvers answering local hosts"]];

/* A top-N chart: one row per key, a bar proportional to its value. */
function barList(title, items) {
  const card = el("div", "", "card dns-card");
  card.appendChild(el("h3", title));
  const t = el("table", "", "grid bars");
  const tb = document.createElement("tbody");
  const max = Math.max(1, ...items.map((i) => i.value));
  for (const i of items) {
    const tr = document.createElement("tr");
    const name = el("td", i.ip ? i.key + " (" : String(i.key));
    if (i.ip) { name.appendChild(addressCell(i.ip)); name.appendChild(document.createTextNode(")")); }
    tr.appendChild(name);
    const td = el("td", "", "bar");
    const bar = el("span", "", "barfill");
    bar.style.width = (100 * i.value / max).toFixed(1) + "%";
    td.appendChild(bar);
    tr.appendChild(td);
    tr.appendChild(el("td", i.value, "num"));
    tb.appendChild(tr);
  }
  if (!items.length) tb.appendChild(el("tr", "no data"));
  t.appendChild(tb);
  card.appendChild(t);
  return card;
}

async function loadDns() {
  let j;
  try { j = await api("GET", "/api/dns" + qs({ ...rangeParams(), top: S.q.get("top") || "" })); $("dns-error").textContent = ""; }
  catch (e) { if (e.status !== 401) $("dns-error").textContent = e.message; return; }
  const box = $("dns-stats");
  box.replaceChildren();
  for (const [k, title] of DNS_STATS) box.appendChild(barList(title, j.stats[k] || []));
  fillTable("dns-open", j.open_resolvers.map((o) => ({ cells: [addressCell(o.resolver_ip), o.resolved_query, o.resolved_data || "", o.flows] })));
  fillTable("dns-ext", j.external_resolvers.map((o) => ({ cells: [addressCell(o.src_ip), addressCell(o.resolver_ip), o.flows], data: o.src_ip })),
    (ip) => { location.hash = hostLink(ip); });
}

/* An autonomous system as the collector's GeoIP enrichment names it: "AS2852 CESNET", or "". */
function asText(num, org) {
  if (num === undefined || num === null || num === "") return "";
  return "AS" + num + (org ? " " + org : "");
}

/* ---- Hosts ---- */
async function loadHosts() {
  let j;
  try { j = await api("GET", "/api/hosts" + qs({ ...rangeParams(), order: S.q.get("order") || "", size: 25 })); $("hosts-error").textContent = ""; }
  catch (e) { if (e.status !== 401) $("hosts-error").textContent = e.message; return; }
  fillTable("hosts-table", j.hosts.map((h) => ({
    cells: [addressCell(h.host), h.country || "", asText(h.as, h.as_org), h.flows_out, h.flows_in, fmt(h.bytes_out), fmt(h.bytes_in), h.peers_distinct_max, localTime(h.last_seen)], data: h.host })),
    (ip) => { location.hash = hostLink(ip); });
}

async function loadHost(address) {
  $("host-title").textContent = address;
  let j;
  try { j = await api("GET", "/api/hosts/" + encodeURIComponent(address) + qs(rangeParams())); $("host-error").textContent = ""; }
  catch (e) { if (e.status !== 401) { $("host-error").textContent = e.message; chartsFailed(["chart-host-bytes", "chart-host-flows", "chart-host-profile"], e); } return; }
  const sum = $("host-summary");
  sum.replaceChildren();
  const card = (k, v) => { const c = el("div", null, "card"); c.appendChild(el("div", k, "k")); c.appendChild(el("div", v, "v")); sum.appendChild(c); };
  card("Flows out / in", fmt(j.totals.flows_out) + " / " + fmt(j.totals.flows_in));
  card("Bytes out / in", fmt(j.totals.bytes_out) + " / " + fmt(j.totals.bytes_in));
  card("Distinct peers (max)", j.peers_distinct_max);
  card("Distinct ports (max)", j.dst_ports_distinct_max);
  card("Avg flow duration", fmt(j.avg_flow_duration_ms) + " ms");
  const quiet = j.documents === 0 && !S.esDown ? "No host_stats results for " + address + " in this range: the host sent and received nothing seen here, or it is outside the local networks." : null;
  chart("chart-host-bytes", "bytes", ["out", "in"], j.t, [j.series.bytes_out, j.series.bytes_in], { type: "host_stats", emptyText: quiet });
  chart("chart-host-flows", "flows", ["out", "in"], j.t, [j.series.flows_out, j.series.flows_in], { type: "host_stats", emptyText: quiet });
  fillTable("host-peers", j.top_peers.map((p) => ({ cells: [addressCell(p.ip), p.flows], data: p.ip })), (ip) => { location.hash = hostLink(ip); });
  fillTable("host-ports", j.top_ports.map((p) => ({ cells: [p.port, p.flows] })));
  fillTable("host-flags", Object.entries(j.tcp_flags).map(([k, v]) => ({ cells: [k, v] })));
  // Its detections lead on to their detail.
  try {
    const dj = await api("GET", "/api/detections" + qs({ ...rangeParams(), address, size: 20 }));
    $("host-det-total").textContent = "(" + dj.total + " in range" + (dj.total > dj.items.length ? ", newest " + dj.items.length + " shown" : "") + ")";
    fillTable("host-dets", dj.items.map((d) => ({
      cells: [localTime(d["@timestamp"]), d["@type"], addressCell(d.src_ip), d.dst_ip ? addressCell(d.dst_ip) : (d.dst_port !== undefined ? "port " + d.dst_port : ""), d.flows],
      data: d.id })), (id) => { if (id) location.hash = S4F.detectionLink(id); });
  } catch (e) { if (e.status !== 401) $("host-det-total").textContent = "(" + e.message + ")"; }
  const hours = j.profile ? j.profile.hours : [];
  chart("chart-host-profile", "profile", ["flows"], hours.map((h) => Date.parse(h.hour_start)), [hours.map((h) => h.flows)],
    { bars: true, zoom: false, type: "host_stats_temporal_profile",
      emptyText: !hours.length && !S.esDown ? "No 24 h profile of " + address + " yet: host_stats writes one per host every hour (is host_stats running? see System)." : null });
  await loadHostTopN(address);
}

/* The host's top-N lists of its newest top_n_host_stats window in the range (GET /api/topn/). */
async function loadHostTopN(address) {
  let j;
  try { j = await api("GET", "/api/topn/" + encodeURIComponent(address) + qs(rangeParams())); }
  catch (e) { if (e.status !== 401) $("host-topn-window").textContent = e.message; return; }
  $("host-topn-window").textContent = j.window_end ? "window " + localTime(j.window_start) + " – " + localTime(j.window_end)
    : "no top_n_host_stats window of this host in the range";
  fillTable("host-topn-ports", (j.top_n_dst_ports || []).map((p) => ({ cells: [p.port, p.flows] })));
  fillTable("host-topn-hosts", (j.top_n_dst_hosts || []).map((p) => ({ cells: [addressCell(p.dst_host), p.flows], data: p.dst_host })),
    (ip) => { location.hash = hostLink(ip); });
  fillTable("host-topn-http", (j.top_n_http_dst || []).map((p) => ({ cells: [p.http_host, p.flows] })));
}

/* ---- System ---- */
function interesting(m) { return /(_total|lag|queue|drop|sessions|inflight|pending)/.test(m.name); }

/* The pipeline as a picture: a card per stage in flow order with its status, rates in and out
 * over the kept hour, lag per group, drops and errors where non-zero; problems in words on top. */
function rate(v, unit) { return v === null || v === undefined ? "–" : fmt(v) + "/s" + (unit ? " " + unit : ""); }

async function loadPipeline() {
  let j;
  try { j = await api("GET", "/api/pipeline"); $("pipeline-problems").classList.remove("stale"); }
  catch (e) { if (e.status !== 401) { $("pipeline-problems").classList.add("stale"); } return; }
  const ul = $("pipeline-problems");
  ul.replaceChildren();
  for (const p of j.problems) { const li = el("li", p.text, "bad"); li.dataset.stage = p.stage; ul.appendChild(li); }
  if (!j.problems.length) ul.appendChild(el("li", j.samples < 2 ? "Reading the components' metrics…" : "Everything is flowing: no stage reports a problem.", "ok"));
  const box = $("pipeline");
  const key = j.stages.map((s) => s.name).join("|");
  if (S.plKey !== key) {
    for (const id of Object.keys(S.charts)) if (id.startsWith("pl-")) { S.charts[id].u.destroy(); delete S.charts[id]; }
    box.replaceChildren();
    j.stages.forEach((s, i) => {
      if (i) box.appendChild(el("div", "→", "arrow"));
      const card = el("div", null, "card stage");
      card.dataset.stage = s.name;
      card.appendChild(el("h3", s.label));
      for (const c of ["status", "rates", "chart", "lags", "errors", "stage-problems"]) {
        const d = el("div", null, c === "chart" ? "chart small" : c);
        if (c === "chart") d.id = "pl-" + s.name;
        card.appendChild(d);
      }
      box.appendChild(card);
    });
    S.plKey = key;
  }
  for (const s of j.stages) {
    const card = box.querySelector(`.stage[data-stage="${CSS.escape(s.name)}"]`);
    card.dataset.status = s.status;
    const st = card.querySelector(".status");
    st.textContent = s.status + (s.health && s.health !== "ok" && s.health !== s.status ? " (" + s.health + ")" : "");
    st.className = "status st-" + s.status;
    const r = card.querySelector(".rates");
    r.replaceChildren(el("div", "in " + rate(s.in_rate, s.in_unit)));
    if (s.out_unit) r.appendChild(el("div", "out " + rate(s.out_rate, s.out_unit)));
    const ser = s.series;
    chart("pl-" + s.name, s.name, s.out_unit ? ["in/s", "out/s"] : ["in/s"], ser.t, s.out_unit ? [ser.in, ser.out] : [ser.in],
      { zoom: false, height: 110, emptyText: ser.t.length < 2 ? "collecting samples" : (s.status === "down" ? "not answering" : "nothing flowing") });
    const lags = card.querySelector(".lags");
    lags.replaceChildren();
    for (const l of s.lags) lags.appendChild(el("div", "lag " + l.group + ": " + fmt(l.messages) + " messages" + (l.behind_s ? " (" + fmt(l.behind_s) + " s behind)" : "")));
    const errs = card.querySelector(".errors");
    errs.replaceChildren();
    for (const e of s.errors) errs.appendChild(el("div", e.words + ": " + fmt(e.total) + (e.rate ? " (" + fmt(e.rate) + "/s)" : ""), e.rate ? "bad" : "k"));
    const pr = card.querySelector(".stage-problems");
    pr.replaceChildren();
    for (const p of s.problems) pr.appendChild(el("div", p, "bad"));
  }
}

async function loadSystem() {
  await loadPipeline();
  $("admin-users").hidden = S.role !== "admin";
  if (S.role === "admin" && !document.activeElement.closest("#user-form")) await loadUsers();
  if (!$("raw").hidden) await loadComponents();
}

async function loadComponents() {
  let j;
  try { j = await api("GET", "/api/components"); } catch (e) { return; }
  const prev = S.prevMetrics, now = j.time_ms, cur = {};
  const box = $("components");
  box.replaceChildren();
  for (const c of j.components) {
    const card = el("div", null, "card");
    card.dataset.component = c.name;
    card.appendChild(el("h3", c.name));
    card.appendChild(el("div", c.health + (c.reason ? ": " + c.reason : ""), c.health));
    card.appendChild(el("div", c.url, "k"));
    const t = el("table"); t.className = "grid";
    for (const m of c.metrics.filter(interesting).slice(0, 40)) {
      const key = c.name + "|" + m.name + "{" + m.labels + "}";
      cur[key] = m.value;
      let rate = "";
      if (prev && prev.values[key] !== undefined && /_total$/.test(m.name) && now > prev.time)
        rate = fmt((m.value - prev.values[key]) * 1000 / (now - prev.time)) + "/s";
      const tr = document.createElement("tr");
      tr.appendChild(el("td", m.name.replace(/^s4f_/, "") + (m.labels ? "{" + m.labels + "}" : "")));
      tr.appendChild(el("td", fmt(m.value), "num"));
      tr.appendChild(el("td", rate, "num"));
      t.appendChild(tr);
    }
    card.appendChild(t);
    box.appendChild(card);
  }
  S.prevMetrics = { time: now, values: cur };
}

async function loadUsers() {
  const j = await api("GET", "/api/users");
  const tb = $("users-table").tBodies[0];
  tb.replaceChildren();
  for (const u of j.users) {
    const tr = document.createElement("tr");
    tr.appendChild(el("td", u.name));
    const role = document.createElement("select");
    for (const r of ["user", "admin"]) role.appendChild(el("option", r));
    role.value = u.role;
    role.addEventListener("change", () => userAction("PUT", u.name, { role: role.value }));
    const td = document.createElement("td"); td.appendChild(role); tr.appendChild(td);
    tr.appendChild(el("td", localTime(u.changed)));
    const act = document.createElement("td");
    const pw = el("button", "Set password"); pw.type = "button";
    pw.addEventListener("click", () => { const p = prompt("New password for " + u.name + " (at least 10 characters)"); if (p) userAction("PUT", u.name, { password: p }); });
    const del = el("button", "Delete"); del.type = "button";
    del.addEventListener("click", () => { if (confirm("Delete user " + u.name + "?")) userAction("DELETE", u.name); });
    act.appendChild(pw); act.appendChild(del); tr.appendChild(act);
    tb.appendChild(tr);
  }
}

async function userAction(method, name, body) {
  try { await api(method, "/api/users/" + encodeURIComponent(name), body); $("nu-msg").textContent = "saved"; }
  catch (e) { $("nu-msg").textContent = e.message; }
  await loadUsers();
}

/* ---- Start ---- */
function wire() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      const j = await api("POST", "/api/login", { username: $("login-user").value, password: $("login-pass").value });
      $("login-pass").value = "";
      setSession(j);
      route();
    } catch (e) { $("login-error").textContent = e.message; }
  });
  $("logout").addEventListener("click", async () => { try { await api("POST", "/api/logout", {}); } catch (e) { /* signed out anyway */ } showLogin(); });
  $("tb-range").addEventListener("change", () => {
    const v = $("tb-range").value;
    if (v === "zoom") return;
    S.zoomStack = [];
    setParams({ range: v === "auto" ? null : v, from: null, to: null });
  });
  $("tb-back").addEventListener("click", zoomBack);
  $("raw-toggle").addEventListener("click", () => {
    $("raw").hidden = !$("raw").hidden;
    $("raw-toggle").textContent = $("raw").hidden ? "Show raw counters" : "Hide raw counters";
    if (!$("raw").hidden) loadComponents();
  });
  for (const id of ["ov-interval", "det-type", "hosts-order", "dns-top"]) $(id).addEventListener("change", () => setParams({ [CONTROLS[id]]: $(id).value }));
  const applyAddress = () => setParams({ address: $("det-address").value.trim() });
  $("det-apply").addEventListener("click", applyAddress);
  $("det-address").addEventListener("keydown", (e) => { if (e.key === "Enter") applyAddress(); });
  $("host-search").addEventListener("submit", (ev) => { ev.preventDefault(); const a = $("host-address").value.trim(); if (a) location.hash = hostLink(a); });
  $("pw-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await api("PUT", "/api/users/" + encodeURIComponent(S.user), { current_password: $("pw-current").value, password: $("pw-new").value }); $("pw-msg").textContent = "changed"; ev.target.reset(); }
    catch (e) { $("pw-msg").textContent = e.message; }
  });
  $("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await api("POST", "/api/users", { name: $("nu-name").value, password: $("nu-pass").value, role: $("nu-role").value }); $("nu-msg").textContent = "added"; ev.target.reset(); }
    catch (e) { $("nu-msg").textContent = e.message; }
    await loadUsers();
  });
  for (const p of Object.values(S4F.pages)) if (p.wire) p.wire();
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => { for (const c of Object.values(S.charts)) c.u.setSize({ width: Math.max(200, c.u.root.parentElement.clientWidth - 4), height: c.height }); });
}

async function start() {
  wire();
  try { setSession(await api("GET", "/api/session")); route(); } catch (e) { showLogin(); }
}

document.addEventListener("DOMContentLoaded", start);
