import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asset, browser, daemon, listen, screenshotPath, store, text } from "./support.mjs";

const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;

test("the overlay shows a hostile product name as text and no script runs", async () => {
  const folder = mkdtempSync(join(tmpdir(), "cuebox-hostile-"));
  cpSync(asset("demo/images"), join(folder, "images"), { recursive: true });
  const catalog = join(folder, "catalog.yaml");
  const hostile = `  - sku: HOSTILE-1\n    name: ${JSON.stringify(HOSTILE)}\n    price: {amount: 1.00, currency: CNY}\n    promo: ${JSON.stringify("<b>bold</b> & \"quoted\"")}\n`;
  writeFileSync(catalog, text(asset("demo/catalog.yaml")) + hostile);
  const dir = store(catalog);
  const d = await daemon({ dir, sources: [asset("demo/clips/1-box.mp4")], device: "stream" });
  const watch = await listen(d.mqttPort, `${d.prefix}/#`);
  const chromium = await browser();
  try {
    const page = await chromium.newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(d.web + "/overlay?position=bottom-left&scale=1.2");
    await page.waitForFunction(() => document.getElementById("card").dataset.sku === "BISCUIT-BOX-01", null, { timeout: 30000 });
    await page.waitForTimeout(400);
    await page.screenshot({ path: screenshotPath("overlay.png"), omitBackground: true });
    watch.publish(`${d.prefix}/cmd/product`, { sku: "HOSTILE-1" });
    await page.waitForFunction(() => document.getElementById("card").dataset.sku === "HOSTILE-1", null, { timeout: 10000 });
    assert.equal(await page.textContent("#title"), HOSTILE);
    assert.equal(await page.textContent("#promo"), "<b>bold</b> & \"quoted\"");
    assert.equal(await page.locator("#card img, #card script, #card b").count(), 0, "no element made from the text");
    assert.equal(await page.evaluate(() => window.__pwned), undefined, "no script ran");
    watch.publish(`${d.prefix}/cmd/product`, { sku: null });
    await page.waitForFunction(() => document.getElementById("card").dataset.sku === "BISCUIT-BOX-01", null, { timeout: 10000 });
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(background, "rgba(0, 0, 0, 0)", "transparent for a browser source");
  } finally {
    watch.close();
    await chromium.close();
    await d.stop();
  }
});
