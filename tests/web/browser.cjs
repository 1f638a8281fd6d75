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

async function indexWindow(we) {
  const day = iso(we).slice(0, 10).replace(/-/g, ".");
  const lines = [];
  for (const [proto, flows] of [["tcp", 7777], ["udp", 3333], ["icmp", 55], ["icmpv6", 5], ["other", 1]]) {
    const id = `protocols_statistics-${we}-${proto}-live`;
    lines.push(JSON.stringify({ index: { _index: `${PREFIX}-protocols_statistics-${day}`, _id: id } }));
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
  const shot = async (page, name) => page.screenshot({ path: path.join(OUT, name + ".png"), fullPage: true });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(T);
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => {
      // 401 (login probe, wrong password) and 400 (the bad address typed on purpose) are expected;
      // anything else (CSP violations, script errors, 5xx) is not.
      if (m.type() === "error" && !/status of 40[01]/.test(m.text())) problems.push("console: " + m.text());
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

    // Interval and range controls redraw the charts.
    await page.selectOption("#ov-range", "24h");
    await page.selectOption("#ov-interval", "5m");
    await page.waitForFunction(() => { const n = Number(document.getElementById("chart-flows").dataset.points); return n >= 288 && n <= 290; });

    // Detections: histogram, tops, table, detail.
    await page.click("nav a[data-page=detections]");
    await page.waitForFunction(() => document.querySelectorAll("#det-table tbody tr").length > 0);
    if ((await rows(page, "#det-sources")) === 0) problems.push("no top sources");
    await page.locator("#det-table tbody tr").first().click();
    await page.locator("#det-detail", { hasText: "src_ip" }).waitFor({ state: "visible" });
    await shot(page, "04-detection");
    // Filter by the detection's source network.
    await page.fill("#det-address", "192.0.2.0/24");
    await page.click("#det-apply");
    await page.waitForFunction(() => { const r = [...document.querySelectorAll("#det-table tbody tr td:nth-child(3)")]; return r.length > 0 && r.every((td) => td.textContent.startsWith("192.0.2.")); });
    await page.fill("#det-address", "not-an-address");
    await page.click("#det-apply");
    await page.locator("#det-error", { hasText: "parameter 'address'" }).waitFor();

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
    const flags = await rows(page, "#host-flags");
    if (flags !== 8) problems.push("TCP flags table has " + flags + " rows");
    await shot(page, "06-host-profile");
    // Search an address directly.
    await page.click("nav a[data-page=hosts]");
    await page.fill("#host-address", "2001:db8::10");
    await page.click("#host-search button[type=submit]");
    await page.locator("#host-title", { hasText: "2001:db8::10" }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#host-ports tbody tr").length > 0);

    // System: components and users.
    await page.click("nav a[data-page=system]");
    await page.waitForFunction(() => document.querySelectorAll("#components .card").length >= 2 &&
      document.querySelectorAll("#users-table tbody tr").length >= 1);
    await shot(page, "07-system");

    // Sign out: the API is closed again.
    await page.click("#logout");
    await page.locator("#login-form").waitFor({ state: "visible" });
    const st = await page.evaluate(async () => (await fetch("/api/protocols")).status);
    if (st !== 401) problems.push("after sign-out /api/protocols answers " + st);
    fs.writeFileSync(path.join(OUT, "timings.json"), JSON.stringify({ overview_ms: overviewMs }) + "\n");
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
