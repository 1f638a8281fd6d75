/* Stream4Flow dashboard: a small single-page app over /api/ (docs/web-api.md).
 * No framework; charts by uPlot (vendored at build time). Data is only ever written to the page
 * with textContent, never as HTML. Pages poll every refresh_ms (at most 5 s) while open. */
"use strict";

const S = { csrf: null, user: null, role: null, refreshMs: 5000, timer: null, charts: {}, page: null, prevMetrics: null };
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
    for (const c of r.cells) tr.appendChild(el("td", c, typeof c === "number" ? "num" : ""));
    if (onClick) tr.addEventListener("click", () => onClick(r.data));
    tb.appendChild(tr);
  }
}

function localTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

/* One uPlot per container, rebuilt when the series set changes, otherwise updated in place. */
function chart(id, title, names, xs, ys, opts) {
  const box = $(id);
  const width = Math.max(300, box.clientWidth - 4);
  const key = names.join("|") + (opts && opts.bars ? "|bars" : "");
  const data = [xs.map((t) => t / 1000), ...ys];
  let c = S.charts[id];
  box.dataset.points = String(xs.length);
  if (c && c.key === key) { c.u.setSize({ width, height: 230 }); c.u.setData(data); return; }
  if (c) c.u.destroy();
  const series = [{}].concat(names.map((n, i) => {
    const s = { label: n, stroke: COLORS[i % COLORS.length], width: 1.5, value: (u, v) => fmt(v) };
    if (opts && opts.bars) { s.fill = COLORS[i % COLORS.length] + "99"; s.paths = uPlot.paths.bars({ size: [0.8, 40] }); }
    return s;
  }));
  const u = new uPlot({ width, height: 230, series, axes: [{}, { values: (u, v) => v.map(fmt), size: 72 }],
    cursor: { drag: { x: true, y: false } }, legend: { live: true } }, data, box);
  S.charts[id] = { u, key };
}

function showLogin() {
  stopTimer();
  S.csrf = null;
  $("top").hidden = true;
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
  localTime: (t) => localTime(t), route: () => route(), $ };

/* Routes: #/overview, #/detections, #/hosts, #/hosts/<address>, #/dns, #/system */
async function route() {
  if (!S.csrf) return;
  stopTimer();
  const h = location.hash.replace(/^#\/?/, "") || "overview";
  const [name, ...rest] = h.split("/");
  const arg = decodeURIComponent(rest.join("/"));
  for (const p of document.querySelectorAll(".page")) p.hidden = true;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === name);
  const pages = { overview: loadOverview, detections: loadDetections, hosts: arg ? loadHost : loadHosts, dns: loadDns, system: loadSystem };
  for (const [k, v] of Object.entries(S4F.pages)) pages[k] = v.load;
  const fn = pages[name] || loadOverview;
  const section = fn === loadHost ? "host" : (pages[name] ? name : "overview");
  $("page-" + section).hidden = false;
  S.page = section;
  const run = () => fn(arg).catch((e) => { if (e.status !== 401) console.warn(e); });
  await run();
  S.timer = setInterval(run, S.refreshMs);
}

/* ---- Overview ---- */
function overviewParams() {
  const r = $("ov-range").value;
  const p = { interval: $("ov-interval").value };
  if (r === "custom") {
    const f = $("ov-from").value, t = $("ov-to").value;
    if (f) p.from = new Date(f).toISOString();
    if (t) p.to = new Date(t).toISOString();
  } else p.range = r;
  return p;
}

async function loadOverview() {
  let j;
  try { j = await api("GET", "/api/protocols" + qs(overviewParams())); $("ov-error").textContent = ""; }
  catch (e) { if (e.status !== 401) $("ov-error").textContent = e.message; return; }
  $("last-window").textContent = j.last_window ? localTime(j.last_window) : "none yet";
  $("last-window").dataset.iso = j.last_window || "";
  fillTable("totals", PROTOS.concat(["all"]).map((p) => ({ cells: [p, j.totals_5m[p].flows, j.totals_5m[p].packets, j.totals_5m[p].bytes] })));
  for (const f of ["flows", "packets", "bytes"])
    chart("chart-" + f, f, PROTOS, j.t, PROTOS.map((p) => j.series[p][f]));
}

/* ---- Detections ---- */
async function loadDetections() {
  const p = { range: $("det-range").value, type: $("det-type").value, address: $("det-address").value.trim(), size: 50 };
  let j;
  try { j = await api("GET", "/api/detections" + qs(p)); $("det-error").textContent = ""; }
  catch (e) { if (e.status !== 401) $("det-error").textContent = e.message; return; }
  const sel = $("det-type"), cur = sel.value;
  const known = new Set([...sel.options].map((o) => o.value));
  for (const t of j.types) if (!known.has(t.type)) sel.appendChild(el("option", t.type)).value = t.type;
  sel.value = cur;
  const names = Object.keys(j.histogram.series);
  chart("chart-detections", "detections", names.length ? names : ["none"], j.histogram.t,
    names.length ? names.map((n) => j.histogram.series[n]) : [j.histogram.t.map(() => 0)], { bars: true });
  const filterBy = (ip) => { $("det-address").value = ip; loadDetections(); };
  fillTable("det-sources", j.top_sources.map((s) => ({ cells: [s.ip, s.detections, s.flows], data: s.ip })), filterBy);
  fillTable("det-victims", j.top_victims.map((s) => ({ cells: [s.ip, s.detections, s.flows], data: s.ip })), filterBy);
  fillTable("det-ports", j.top_ports.map((s) => ({ cells: [s.port, s.detections] })));
  $("det-total").textContent = "(" + j.total + " in range, newest " + j.items.length + " shown)";
  fillTable("det-table", j.items.map((d) => ({
    cells: [localTime(d["@timestamp"]), d["@type"], d.src_ip, d.dst_ip || (d.dst_port !== undefined ? "port " + d.dst_port : ""), d.flows, d.targets_total],
    data: d })), showDetection);
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
    const a = el("a", "Profile of " + ip); a.href = "#/hosts/" + encodeURIComponent(ip);
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
    tr.appendChild(el("td", i.ip ? i.key + " (" + i.ip + ")" : String(i.key)));
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
  try { j = await api("GET", "/api/dns" + qs({ range: $("dns-range").value, top: $("dns-top").value })); $("dns-error").textContent = ""; }
  catch (e) { if (e.status !== 401) $("dns-error").textContent = e.message; return; }
  const box = $("dns-stats");
  box.replaceChildren();
  for (const [k, title] of DNS_STATS) box.appendChild(barList(title, j.stats[k] || []));
  fillTable("dns-open", j.open_resolvers.map((o) => ({ cells: [o.resolver_ip, o.resolved_query, o.resolved_data || "", o.flows] })));
  fillTable("dns-ext", j.external_resolvers.map((o) => ({ cells: [o.src_ip, o.resolver_ip, o.flows], data: o.src_ip })),
    (ip) => { location.hash = "#/hosts/" + encodeURIComponent(ip); });
}

/* ---- Hosts ---- */
async function loadHosts() {
  let j;
  try { j = await api("GET", "/api/hosts" + qs({ range: $("hosts-range").value, order: $("hosts-order").value, size: 25 })); $("hosts-error").textContent = ""; }
  catch (e) { if (e.status !== 401) $("hosts-error").textContent = e.message; return; }
  fillTable("hosts-table", j.hosts.map((h) => ({
    cells: [h.host, h.flows_out, h.flows_in, fmt(h.bytes_out), fmt(h.bytes_in), h.peers_distinct_max, localTime(h.last_seen)], data: h.host })),
    (ip) => { location.hash = "#/hosts/" + encodeURIComponent(ip); });
}

async function loadHost(address) {
  $("host-title").textContent = address;
  let j;
  try { j = await api("GET", "/api/hosts/" + encodeURIComponent(address) + qs({ range: $("host-range").value })); $("host-error").textContent = ""; }
  catch (e) { if (e.status !== 401) $("host-error").textContent = e.message; return; }
  const sum = $("host-summary");
  sum.replaceChildren();
  const card = (k, v) => { const c = el("div", null, "card"); c.appendChild(el("div", k, "k")); c.appendChild(el("div", v, "v")); sum.appendChild(c); };
  card("Flows out / in", fmt(j.totals.flows_out) + " / " + fmt(j.totals.flows_in));
  card("Bytes out / in", fmt(j.totals.bytes_out) + " / " + fmt(j.totals.bytes_in));
  card("Distinct peers (max)", j.peers_distinct_max);
  card("Distinct ports (max)", j.dst_ports_distinct_max);
  card("Avg flow duration", fmt(j.avg_flow_duration_ms) + " ms");
  chart("chart-host-bytes", "bytes", ["out", "in"], j.t, [j.series.bytes_out, j.series.bytes_in]);
  chart("chart-host-flows", "flows", ["out", "in"], j.t, [j.series.flows_out, j.series.flows_in]);
  fillTable("host-peers", j.top_peers.map((p) => ({ cells: [p.ip, p.flows], data: p.ip })), (ip) => { location.hash = "#/hosts/" + encodeURIComponent(ip); });
  fillTable("host-ports", j.top_ports.map((p) => ({ cells: [p.port, p.flows] })));
  fillTable("host-flags", Object.entries(j.tcp_flags).map(([k, v]) => ({ cells: [k, v] })));
  const hours = j.profile ? j.profile.hours : [];
  chart("chart-host-profile", "profile", ["flows"], hours.map((h) => Date.parse(h.hour_start)), [hours.map((h) => h.flows)], { bars: true });
  await loadHostTopN(address);
}

/* The host's top-N lists of its newest top_n_host_stats window in the range (GET /api/topn/). */
async function loadHostTopN(address) {
  let j;
  try { j = await api("GET", "/api/topn/" + encodeURIComponent(address) + qs({ range: $("host-range").value })); }
  catch (e) { if (e.status !== 401) $("host-topn-window").textContent = e.message; return; }
  $("host-topn-window").textContent = j.window_end ? "window " + localTime(j.window_start) + " – " + localTime(j.window_end)
    : "no top_n_host_stats window of this host in the range";
  fillTable("host-topn-ports", (j.top_n_dst_ports || []).map((p) => ({ cells: [p.port, p.flows] })));
  fillTable("host-topn-hosts", (j.top_n_dst_hosts || []).map((p) => ({ cells: [p.dst_host, p.flows], data: p.dst_host })),
    (ip) => { location.hash = "#/hosts/" + encodeURIComponent(ip); });
  fillTable("host-topn-http", (j.top_n_http_dst || []).map((p) => ({ cells: [p.http_host, p.flows] })));
}

/* ---- System ---- */
function interesting(m) { return /(_total|lag|queue|drop|sessions|inflight|pending)/.test(m.name); }

async function loadSystem() {
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
  $("admin-users").hidden = S.role !== "admin";
  if (S.role === "admin" && !document.activeElement.closest("#user-form")) await loadUsers();
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
  $("ov-range").addEventListener("change", () => { $("ov-custom").hidden = $("ov-range").value !== "custom"; if ($("ov-range").value !== "custom") route(); });
  for (const id of ["ov-interval", "ov-from", "ov-to"]) $(id).addEventListener("change", route);
  for (const id of ["det-range", "det-type"]) $(id).addEventListener("change", route);
  $("det-apply").addEventListener("click", route);
  $("det-address").addEventListener("keydown", (e) => { if (e.key === "Enter") route(); });
  for (const id of ["hosts-range", "hosts-order", "dns-range", "dns-top"]) $(id).addEventListener("change", route);
  $("host-range").addEventListener("change", route);
  $("host-search").addEventListener("submit", (ev) => { ev.preventDefault(); const a = $("host-address").value.trim(); if (a) location.hash = "#/hosts/" + encodeURIComponent(a); });
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
  window.addEventListener("resize", () => { for (const c of Object.values(S.charts)) c.u.setSize({ width: Math.max(300, c.u.root.parentElement.clientWidth - 4), height: 230 }); });
}

async function start() {
  wire();
  try { setSession(await api("GET", "/api/session")); route(); } catch (e) { showLogin(); }
}

document.addEventListener("DOMContentLoaded", start);
