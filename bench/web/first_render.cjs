// Time to first render of the overview: from navigation start to the three protocol charts
// drawn with data, in Debian's chromium (playwright-core), signed in. Prints JSON.
// Environment: S4F_WEB_URL, S4F_WEB_USER, S4F_WEB_PASSWORD, S4F_RUNS (default 7).
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.S4F_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const runs = Number(process.env.S4F_RUNS || 7);
  const times = [];
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(30000);
    await page.goto(process.env.S4F_WEB_URL + "/");
    await page.fill("#login-user", process.env.S4F_WEB_USER);
    await page.fill("#login-pass", process.env.S4F_WEB_PASSWORD);
    await page.click("#login-form button[type=submit]");
    await page.locator("#page-overview").waitFor({ state: "visible" });
    for (let i = 0; i < runs; i++) {
      await page.goto("about:blank");
      const t0 = Date.now();
      await page.goto(process.env.S4F_WEB_URL + "/#/overview");
      await page.waitForFunction(() => ["flows", "packets", "bytes"].every((c) => {
        const e = document.getElementById("chart-" + c);
        return e && e.querySelector("canvas") && Number(e.dataset.points) > 100;
      }), null, { polling: "raf" });
      times.push(Date.now() - t0);
    }
  } finally {
    await browser.close();
  }
  const s = [...times].sort((a, b) => a - b);
  console.log(JSON.stringify({ runs: times, median_ms: s[Math.floor(s.length / 2)], max_ms: s[s.length - 1] }));
}

main().catch((e) => { console.error(e); process.exit(1); });
