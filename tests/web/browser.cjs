// Browser test of the dashboard: Debian's chromium driven by playwright-core (no browser
// download). Environment: S4F_WEB_URL, S4F_WEB_USER, S4F_WEB_PASSWORD, S4F_ES_URL,
// S4F_PREFIX (index prefix holding the test data), S4F_OUT (screenshots directory).
// Every wait is for an observable condition with a deadline; screenshots are kept in S4F_OUT.
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const URL_ = process.env.S4F_WEB_URL;
const OUT = process.env.S4F_OUT;
const ES = process.env.S4F_ES_URL || "http://127.0.0.1:9200";
const PREFIX = process.env.S4F_PREFIX;
const T = 30000;

function iso(ms) { return new Date(ms).toISOString(); }

async function indexWindow(we, prefix = PREFIX) {
  const day = iso(we).slice(0, 10).replace(/-/g, ".");
  const lines = [];
  for (const [proto, flows] of [["tcp", 7777], ["udp", 3333], ["icmp", 55], ["icmpv6", 5], ["other", 1]]) {
    const id = `protocols_statistics-${we}-${proto}-live`;
    lines.push(JSON.stringify({ index: { _index: `${prefix}-protocols_statistics-${day}`, _id: id } }));
    lines.push(JSON.stringify({ "@type": "protocols_statistics", "@timestamp": iso(we), window_start: iso(we - 10000),
      window_end: iso(we), id, protocol: proto, flows, packets: flows * 5, bytes: flows * 3000 }));
  }
  const r = await fetch(ES + "/_bulk?refresh=true", { method: "POST", headers: { "Content-Type": "application/x-ndjson" }, body: lines.join("\n") + "\n" });
  const j = await r.json();
  if (!r.ok || j.errors) throw new Error("indexing the live window failed: " + JSON.stringify(j).slice(0, 300));
}

async function rows(page, sel) { return page.locator(sel + " tbody tr").count(); }

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.S4F_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const problems = [];
  let expect503 = false;
  const shot = async (page, name) => page.screenshot({ path: path.join(OUT, name + ".png"), fullPage: true });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(T);
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => {
      // 401 (login probe, wrong password) and 400 (the bad address typed on purpose) are expected;
      // anything else (CSP violations, script errors, 5xx) is not.
      if (m.type() === "error" && !/status of 40[01]/.test(m.text()) && !(expect503 && /status of 503/.test(m.text()))) problems.push("console: " + m.text());
    });

    await page.goto(URL_ + "/");
    await page.locator("#login-form").waitFor({ state: "visible" });
    await shot(page, "01-login");

    // A wrong password is refused with a message.
    await page.fill("#login-user", process.env.S4F_WEB_USER);
    await page.fill("#login-pass", "not-the-password");
    await page.click("#login-form button[type=submit]");
    await page.locator("#login-error", { hasText: "wrong" }).waitFor();

    const t0 = Date.now();
    await page.fill("#login-pass", process.env.S4F_WEB_PASSWORD);
    await page.click("#login-form button[type=submit]");
    await page.locator("#page-overview").waitFor({ state: "visible" });
    for (const c of ["flows", "packets", "bytes"])
      await page.waitForFunction((id) => { const e = document.getElementById(id); return e && e.querySelector("canvas") && Number(e.dataset.points) > 100; }, "chart-" + c);
    const overviewMs = Date.now() - t0;
    const totalFlows = await page.locator("#totals tbody tr").last().locator("td").nth(1).textContent();
    if (!(Number(totalFlows) > 0)) problems.push("5-minute totals show no flows: " + totalFlows);
    await shot(page, "02-overview");
    console.log(`overview rendered with data ${overviewMs} ms after sign-in`);

    // Live: a new window indexed now must appear without reloading.
    const shown = await page.locator("#last-window").getAttribute("data-iso");
    let we = Math.floor(Date.now() / 10000) * 10000;
    if (shown && Date.parse(shown) >= we) {
      // The seeded data already holds this window: wait for the next one to start.
      await page.waitForFunction((ms) => Date.now() >= ms, Date.parse(shown) + 10000, { timeout: 15000, polling: 200 });
      we = Math.floor(Date.now() / 10000) * 10000;
    }
    await indexWindow(we);
    const liveStart = Date.now();
    await page.waitForFunction((want) => document.getElementById("last-window").dataset.iso === want, iso(we), { timeout: T, polling: 200 });
    console.log(`new window ${iso(we)} appeared ${Date.now() - liveStart} ms after indexing`);
    await shot(page, "03-live-window");

    // The default range fits the data (24 h seeded): no control touched, the time bar says so.
    const span = await page.locator("#tb-span").textContent();
    if (!/last (2[34]|1[0-9]) h/.test(span)) problems.push("default range does not fit the 24 h of data: " + span);
    // Interval and range controls redraw the charts and live in the URL.
    await page.selectOption("#tb-range", "24h");
    await page.selectOption("#ov-interval", "5m");
    await page.waitForFunction(() => { const n = Number(document.getElementById("chart-flows").dataset.points); return n >= 288 && n <= 290; });
    if (!/range=24h/.test(page.url()) || !/interval=5m/.test(page.url())) problems.push("range and interval not in the URL: " + page.url());
    // Reload-safe: the same view after a reload.
    await page.reload();
    await page.waitForFunction(() => { const n = Number(document.getElementById("chart-flows").dataset.points); return n >= 288 && n <= 290; });
    if ((await page.inputValue("#ov-interval")) !== "5m" || (await page.inputValue("#tb-range")) !== "24h") problems.push("controls not restored from the URL after a reload");
    // Drag-to-zoom, then one click back.
    const over = page.locator("#chart-flows .u-over");
    const bb = await over.boundingBox();
    await page.mouse.move(bb.x + bb.width * 0.5, bb.y + bb.height / 2);
    await page.mouse.down();
    await page.mouse.move(bb.x + bb.width * 0.75, bb.y + bb.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => /from=\d+&to=\d+/.test(location.hash) && !document.getElementById("tb-back").hidden);
    await page.waitForFunction(() => { const n = Number(document.getElementById("chart-flows").dataset.points); return n > 10 && n < 288; });
    await shot(page, "03b-zoomed");
    await page.click("#tb-back");
    await page.waitForFunction(() => /range=24h/.test(location.hash) && !/from=/.test(location.hash) && document.getElementById("tb-back").hidden);
    // Empty charts say why: a range without data, a host without results, Elasticsearch down.
    const old = Date.now() - 3 * 86400000;
    await page.goto(URL_ + "/#/overview?from=" + (old - 3600000) + "&to=" + old);
    await page.waitForFunction(() => /No data in this range/.test(document.getElementById("chart-flows").dataset.empty || ""));
    await shot(page, "03c-empty-range");
    await page.route("**/api/protocols*", (r) => r.fulfill({ status: 503, contentType: "application/json", body: '{"error":"Elasticsearch is unavailable; retry shortly"}' }));
    expect503 = true;
    await page.goto(URL_ + "/#/overview?range=1h");
    await page.waitForFunction(() => /Elasticsearch is unavailable/.test(document.getElementById("chart-flows").dataset.empty || ""));
    await page.unroute("**/api/protocols*");
    await page.goto(URL_ + "/#/overview?range=1h");
    await page.waitForFunction(() => !document.getElementById("chart-flows").dataset.empty);
    expect503 = false;

    // Detections: histogram, tops, table, detail.
    await page.click("nav a[data-page=detections]");
    await page.waitForFunction(() => document.querySelectorAll("#det-table tbody tr").length > 0);
    if ((await rows(page, "#det-sources")) === 0) problems.push("no top sources");
    // A detection opens its detail view; from there the source's profile, and back.
    await page.locator("#det-table tbody tr").first().locator("td").first().click();
    await page.locator("#page-detection").waitFor({ state: "visible" });
    await page.locator("#detd-fields", { hasText: "src_ip" }).waitFor();
    await page.waitForFunction(() => document.querySelector("#chart-detd canvas") && Number(document.getElementById("chart-detd").dataset.points) >= 1);
    await shot(page, "04-detection");
    const scanner = await page.locator("#detd-title a").textContent();
    await page.click("#detd-title a");
    await page.locator("#host-title", { hasText: scanner }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#host-dets tbody tr").length > 0);
    await page.locator("#host-dets tbody tr").first().locator("td").first().click();
    await page.locator("#page-detection").waitFor({ state: "visible" });
    await page.goBack();
    await page.locator("#host-title", { hasText: scanner }).waitFor();
    await page.goBack();
    await page.locator("#page-detection").waitFor({ state: "visible" });
    await page.click("#detd-back");
    await page.waitForFunction(() => !document.getElementById("page-detections").hidden && document.querySelectorAll("#det-table tbody tr").length > 0);
    // Filter by the detection's source network.
    await page.fill("#det-address", "192.0.2.0/24");
    await page.click("#det-apply");
    await page.waitForFunction(() => { const r = [...document.querySelectorAll("#det-table tbody tr td:nth-child(3)")]; return r.length > 0 && r.every((td) => td.textContent.startsWith("192.0.2.")); });
    if (!/address=192\.0\.2\.0%2F24/.test(page.url())) problems.push("address filter not in the URL: " + page.url());
    // Every address opens its profile, keeping the time range.
    const src = await page.locator("#det-table tbody tr td:nth-child(3) a").first().textContent();
    await page.locator("#det-table tbody tr td:nth-child(3) a").first().click();
    await page.locator("#host-title", { hasText: src }).waitFor();
    await page.goBack();
    await page.waitForFunction(() => document.querySelectorAll("#det-table tbody tr").length > 0);
    await page.fill("#det-address", "not-an-address");
    await page.click("#det-apply");
    await page.locator("#det-error", { hasText: "parameter 'address'" }).waitFor();

    // SSH attacks (a page of its own file, web/ui/pages/ssh.js): histogram, tops, table.
    // The seed spreads attacks over its 24 h; the views before this one may have zoomed.
    await page.goto(URL_ + "/#/ssh?range=48h");
    await page.waitForFunction(() => document.querySelectorAll("#ssh-table tbody tr").length > 0 &&
      document.querySelector("#chart-ssh canvas"));
    if ((await rows(page, "#ssh-sources")) === 0) problems.push("no top SSH guessers");
    if ((await rows(page, "#ssh-victims")) === 0) problems.push("no top SSH servers");
    await shot(page, "04b-ssh");
    // DDoS victims (web/ui/pages/ddos.js): ratios over time, victims, reports.
    await page.goto(URL_ + "/#/ddos?range=48h");
    await page.waitForFunction(() => document.querySelectorAll("#ddos-table tbody tr").length > 0 &&
      document.querySelector("#chart-ddos canvas"));
    if ((await rows(page, "#ddos-victims")) === 0) problems.push("no DDoS victims");
    await shot(page, "04c-ddos");
    // pattern_finder: the page plugin (web/ui/pages/pattern_finder.js), its configuration
    // filter and a result's distributions.
    await page.click("nav a[data-page=pattern_finder]");
    await page.waitForFunction(() => document.querySelectorAll("#pf-table tbody tr").length > 0 &&
      document.querySelectorAll("#pf-config option").length === 3);
    await page.selectOption("#pf-config", "Anomaly Detection");
    await page.waitForFunction(() => { const r = [...document.querySelectorAll("#pf-table tbody tr td:nth-child(2)")]; return r.length > 0 && r.every((td) => td.textContent === "Anomaly Detection"); });
    await page.locator("#pf-top tbody tr").first().click();
    await page.locator("#pf-detail", { hasText: "hydra" }).waitFor({ state: "visible" });
    await shot(page, "04b-pattern-finder");

    // Hosts: list, then a profile.
    await page.click("nav a[data-page=hosts]");
    await page.waitForFunction(() => document.querySelectorAll("#hosts-table tbody tr").length > 0);
    await shot(page, "05-hosts");
    await page.locator("#hosts-table tbody tr").first().click();
    await page.locator("#page-host").waitFor({ state: "visible" });
    await page.waitForFunction(() => document.querySelectorAll("#host-peers tbody tr").length > 0 &&
      document.querySelector("#chart-host-bytes canvas") && document.querySelector("#chart-host-profile canvas") &&
      Number(document.getElementById("chart-host-profile").dataset.points) === 24);
    await page.waitForFunction(() => document.querySelectorAll("#host-topn-ports tbody tr").length === 2 &&
      document.querySelectorAll("#host-topn-hosts tbody tr").length === 1);
    const flags = await rows(page, "#host-flags");
    if (flags !== 8) problems.push("TCP flags table has " + flags + " rows");
    await shot(page, "06-host-profile");
    // Hosts order and the DNS page's top: in the URL; nav links keep the chosen range.
    await page.goto(URL_ + "/#/hosts?range=6h");
    await page.waitForFunction(() => document.querySelectorAll("#hosts-table tbody tr").length > 0);
    await page.selectOption("#hosts-order", "bytes_in");
    await page.waitForFunction(() => /order=bytes_in/.test(location.hash) && /range=6h/.test(location.hash));
    if (!/range=6h/.test(await page.locator("nav a[data-page=dns]").getAttribute("href"))) problems.push("nav links drop the range");
    await page.click("nav a[data-page=dns]");
    await page.waitForFunction(() => document.querySelectorAll("#dns-stats .card").length === 7 && /range=6h/.test(location.hash));
    await page.selectOption("#dns-top", "20");
    await page.waitForFunction(() => /top=20/.test(location.hash) && document.querySelectorAll("#dns-stats .card").length === 7);
    await shot(page, "05b-dns");
    // Host map: the first local network by default; colour by detections; a cell opens the host.
    await page.click("nav a[data-page=hostmap]");
    await page.selectOption("#tb-range", "24h");
    await page.waitForFunction(() => document.getElementById("hm-grid").dataset.net === "10.0.0.0/24" && Number(document.getElementById("hm-grid").dataset.cells) > 0 &&
      document.querySelector('#hm-grid a.hm-cell[data-key="10.0.0.5"]'));
    await shot(page, "06c-hostmap");
    await page.selectOption("#hm-color", "detections");
    await page.waitForFunction(() => /color=detections/.test(location.hash) && /range=24h/.test(location.hash) && document.querySelectorAll("#hm-grid a.hm-cell").length > 0);
    const victim = await page.locator("#hm-grid a.hm-cell").first().getAttribute("data-key");
    await page.locator("#hm-grid a.hm-cell").first().click();
    await page.locator("#host-title", { hasText: victim }).waitFor();
    // A /8 opens as a map of /16s; a network cell opens that network's map, down to the hosts.
    await page.goto(URL_ + "/#/hostmap?net=10.0.0.0/8&range=24h");
    await page.click('#hm-grid a.hm-cell[data-key="10.0.0.0/16"]');
    await page.waitForFunction(() => document.getElementById("hm-grid").dataset.net === "10.0.0.0/16");
    await page.click('#hm-grid a.hm-cell[data-key="10.0.0.0/24"]');
    await page.waitForFunction(() => document.getElementById("hm-grid").dataset.net === "10.0.0.0/24" && document.querySelector('#hm-grid a.hm-cell[data-key="10.0.0.5"]'));
    // A host without results says why its charts are empty.
    await page.goto(URL_ + "/#/hosts/10.9.9.9");
    await page.waitForFunction(() => /No host_stats results for 10\.9\.9\.9/.test(document.getElementById("chart-host-bytes").dataset.empty || ""));
    await shot(page, "06b-host-empty");
    // Search an address directly.
    await page.click("nav a[data-page=hosts]");
    await page.fill("#host-address", "2001:db8::10");
    await page.click("#host-search button[type=submit]");
    await page.locator("#host-title", { hasText: "2001:db8::10" }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#host-ports tbody tr").length > 0);

    // TLS classification (a page of its own file, web/ui/pages/tls.js).
    await page.goto(URL_ + "/#/tls?range=48h");
    await page.waitForFunction(() => document.querySelectorAll("#tls-stats .card").length === 3 &&
      document.querySelectorAll("#tls-stats tbody tr").length >= 8 && document.querySelectorAll("#tls-devices .card").length === 3);
    await shot(page, "08-tls");

    // System: the pipeline as a picture; a stopped worker is named in words; raw counters one
    // click away; users.
    await page.click("nav a[data-page=system]");
    await page.waitForFunction(() => {
      const s = document.querySelector('.stage[data-stage="ports_scan"]');
      return s && s.dataset.status && s.dataset.status !== "down" && document.querySelectorAll("#users-table tbody tr").length >= 1 &&
        [...document.querySelectorAll("#pipeline-problems li")].some((li) => /worker dead is not running/.test(li.textContent));
    });
    for (const st of ["kafka", "elasticsearch"]) if (!(await page.locator(`.stage[data-stage="${st}"]`).count())) problems.push("no " + st + " stage");
    await page.waitForFunction(() => Number(document.getElementById("pl-ports_scan").dataset.points) >= 1);
    if (!(await page.locator('.stage[data-stage="ports_scan"] .errors', { hasText: "records malformed" }).count())) problems.push("non-zero error counter not shown");
    await shot(page, "07-system");
    process.kill(Number(process.env.S4F_FAKE_WORKER_PID), "SIGKILL");
    await page.waitForFunction(() => [...document.querySelectorAll("#pipeline-problems li")].some((li) => /worker ports_scan is not running/.test(li.textContent)) &&
      document.querySelector('.stage[data-stage="ports_scan"]').dataset.status === "down", null, { timeout: 40000 });
    await shot(page, "07b-system-worker-stopped");
    await page.click("#raw-toggle");
    await page.waitForFunction(() => document.querySelectorAll("#components .card").length >= 2);

    // Sign out: the API is closed again.
    await page.click("#logout");
    await page.locator("#login-form").waitFor({ state: "visible" });
    const st = await page.evaluate(async () => (await fetch("/api/protocols")).status);
    if (st !== 401) problems.push("after sign-out /api/protocols answers " + st);
    fs.writeFileSync(path.join(OUT, "timings.json"), JSON.stringify({ overview_ms: overviewMs }) + "\n");

    // A fresh install: the last hour, charts saying no result was ever written; then the first
    // windows arrive and fill the charts without the range being touched (a few minutes).
    const fresh = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    fresh.setDefaultTimeout(T);
    fresh.on("pageerror", (e) => problems.push("page error (fresh): " + e.message));
    await fresh.goto(process.env.S4F_FRESH_URL + "/");
    await fresh.fill("#login-user", process.env.S4F_WEB_USER);
    await fresh.fill("#login-pass", process.env.S4F_WEB_PASSWORD);
    await fresh.click("#login-form button[type=submit]");
    await fresh.waitForFunction(() => /No protocols_statistics results at all yet/.test(document.getElementById("chart-flows").dataset.empty || ""));
    const fspan = await fresh.locator("#tb-span").textContent();
    if (!/last 1 h .*no results yet/.test(fspan)) problems.push("fresh install's range: " + fspan);
    await shot(fresh, "08-fresh-install");
    const now = Math.floor(Date.now() / 10000) * 10000;
    for (const we of [now - 30000, now - 20000, now - 10000]) await indexWindow(we, process.env.S4F_FRESH_PREFIX);
    await fresh.waitForFunction(() => !document.getElementById("chart-flows").dataset.empty && /last [2-5] min/.test(document.getElementById("tb-span").textContent), null, { timeout: 40000 });
    await shot(fresh, "09-fresh-first-windows");
  } finally {
    await browser.close();
  }
  if (problems.length) {
    console.error("problems:\n  " + problems.join("\n  "));
    process.exit(1);
  }
  console.log("browser test passed; screenshots in " + OUT);
}

main().catch((e) => { console.error(e); process.exit(1); });
