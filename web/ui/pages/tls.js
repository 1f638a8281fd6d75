/* TLS classification (#/tls): the top operating systems, browsers and applications of TLS
 * clients (tls_classification documents, GET /api/tls), and the applications grouped by device
 * type, as the original's page had them. A page of its own file: see S4F.pages in app.js. */
(() => {
  const S = window.S4F;
  const $ = S.$;

  async function load() {
    let j;
    try {
      j = await S.api("GET", "/api/tls" + S.qs({ ...S.range(), top: $("tls-top").value }));
      $("tls-error").textContent = "";
    } catch (e) {
      if (e.status !== 401) $("tls-error").textContent = e.message;
      return;
    }
    $("tls-stats").replaceChildren(S.barList("Operating systems", j.stats.os),
      S.barList("Browsers", j.stats.browser), S.barList("Applications (device:application)", j.stats.application));
    /* "device:application" keys, grouped by device (the first ':' separates them). */
    const byDevice = new Map();
    for (const i of j.stats.application) {
      const k = String(i.key), c = k.indexOf(":");
      const dev = c < 0 ? k : k.slice(0, c), app = c < 0 ? "Unknown" : k.slice(c + 1);
      if (!byDevice.has(dev)) byDevice.set(dev, []);
      byDevice.get(dev).push({ key: app, value: i.value });
    }
    const total = (items) => items.reduce((s, i) => s + i.value, 0);
    const devices = [...byDevice.entries()].sort((a, b) => total(b[1]) - total(a[1]));
    $("tls-devices").replaceChildren(...devices.map(([dev, items]) => S.barList(dev, items)));
    $("tls-empty").hidden = j.stats.os.length > 0;
  }

  S.pages.tls = {
    load,
    wire: () => { for (const id of ["tls-top"]) $(id).addEventListener("change", load); },
  };
})();
