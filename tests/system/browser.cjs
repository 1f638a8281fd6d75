// Browser part of the system test: the dashboard over data from a real pipeline run
// (probe -> collector -> workers -> sink -> Elasticsearch). Run by tests/system/run while live
// flows are flowing, so a new window must appear without a reload.
// Env: S4F_WEB_URL, S4F_WEB_USER, S4F_WEB_PASSWORD, S4F_OUT (screenshots), NODE_PATH.
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

const OUT = process.env.S4F_OUT;
const T = 60000;

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, name + ".png"), fullPage: true });
}

(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.S4F_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(T);
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    await page.goto(process.env.S4F_WEB_URL);
    await page.fill("#login-user", process.env.S4F_WEB_USER);
    await page.fill("#login-pass", process.env.S4F_WEB_PASSWORD);
    await page.click("#login-form button[type=submit]");
    await page.locator("#page-overview").waitFor({ state: "visible" });
    await page.selectOption("#tb-range", "1h");
    await page.selectOption("#ov-interval", "10s");
    for (const c of ["flows", "packets", "bytes"])
      await page.waitForFunction((id) => { const e = document.getElementById(id); return e && e.querySelector("canvas") && Number(e.dataset.points) > 0; }, "chart-" + c);
    await shot(page, "01-overview");

    // Live: the newest window shown must move on while the test's live flows arrive.
    const first = await page.locator("#last-window").getAttribute("data-iso");
    await page.waitForFunction((was) => { const v = document.getElementById("last-window").dataset.iso; return v && v !== was; }, first, { timeout: T, polling: 250 });
    const second = await page.locator("#last-window").getAttribute("data-iso");
    console.log(`live: newest window moved from ${first} to ${second} without a reload`);
    await shot(page, "02-live-window");

    // Detections: the scanners of the replayed traffic.
    await page.click("nav a[data-page=detections]");
    await page.waitForFunction(() => document.querySelectorAll("#det-table tbody tr").length > 0);
    const sources = await page.locator("#det-table").textContent();
    for (const ip of ["203.0.113.66", "203.0.113.77"])
      if (!sources.includes(ip)) problems.push("detections table lacks scanner " + ip);
    await page.locator("#det-table tbody tr").first().locator("td").first().click();
    await page.locator("#page-detection").waitFor({ state: "visible" });
    await page.locator("#detd-fields", { hasText: "src_ip" }).waitFor();
    await shot(page, "03-detection");

    // A host profile of a scanned host.
    await page.click("nav a[data-page=hosts]");
    await page.fill("#host-address", "10.0.1.10");
    await page.click("#host-search button[type=submit]");
    await page.locator("#host-title", { hasText: "10.0.1.10" }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#host-peers tbody tr").length > 0);
    await shot(page, "04-host-profile");
  } catch (e) {
    problems.push(String(e));
  } finally {
    await browser.close();
  }
  if (problems.length) {
    console.log("FAIL:\n  " + problems.join("\n  "));
    process.exit(1);
  }
  console.log("browser: PASS (screenshots in " + OUT + ")");
})();
