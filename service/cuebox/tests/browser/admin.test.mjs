import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readdirSync } from "node:fs";
import { asset, browser, daemon, repo, store } from "./support.mjs";

const TOKEN = "admin-token-for-the-browser-test";

test("the admin page refuses without the token, imports a catalog, and learns shown products and the studio", async () => {
  const dir = store(join(repo, "service/cuebox/tests/data/one-product.yaml"));
  const d = await daemon({ dir, sources: [asset("demo/clips/1-box.mp4")], device: "admin", adminToken: TOKEN });
  const chromium = await browser();
  try {
    for (const [path, init] of [["/admin", {}], ["/api/status", {}], ["/api/snapshot", {}], ["/api/status", { headers: { Authorization: "Bearer wrong-token-123" } }], ["/api/catalog", { method: "POST" }]]) {
      const response = await fetch(d.web + path, init);
      assert.equal(response.status, 401, `${path} without the right token`);
    }
    const authorized = await fetch(d.web + "/api/status", { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(authorized.status, 200);

    const page = await chromium.newPage({ viewport: { width: 1280, height: 900 } });
    const refused = await page.goto(d.web + "/admin");
    assert.equal(refused.status(), 401);
    await page.fill("#token", TOKEN);
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=products] tr");
    assert.equal(await page.locator("[data-testid=products] tr").count(), 1);
    await page.waitForFunction(() => document.getElementById("camera").textContent === "streaming", null, { timeout: 30000 });
    await page.waitForFunction(() => document.getElementById("snapshot").naturalWidth === 640, null, { timeout: 30000 });
    await page.waitForSelector("[data-testid=chat-sources] tr[data-source=mqtt]");
    assert.match(await page.textContent("[data-testid=chat-sources] tr[data-source=mqtt]"), /mqtt · mqtt\s*listening/);

    await page.setInputFiles("input[name=catalog]", join(repo, "service/cuebox/tests/data/bad-catalog.yaml"));
    await page.click("#import button[type=submit]");
    await page.waitForFunction(() => document.getElementById("errors").textContent.length > 0);
    const errors = await page.textContent("#errors");
    assert.match(errors, /^bad-catalog\.yaml:6:39: products\[0\]\.price\.currency/m, errors);
    assert.equal(await page.locator("[data-testid=products] tr").count(), 1, "a bad file changes nothing");

    const images = readdirSync(asset("demo/images")).map((name) => join(asset("demo/images"), name));
    await page.setInputFiles("input[name=catalog]", asset("demo/catalog.yaml"));
    await page.setInputFiles("input[name=images]", images);
    await page.click("#import button[type=submit]");
    await page.waitForFunction(() => document.getElementById("report").textContent.startsWith("imported"), null, { timeout: 60000 });
    assert.match(await page.textContent("#report"), /imported 2 products with 6 reference photos/);
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=products] tr").length === 2);

    await page.click("tr[data-sku=TUMBLER-BLK-01]");
    await page.waitForFunction(() => document.querySelectorAll("#photos img").length === 3);
    await page.click("#capture");
    await page.waitForFunction(() => document.querySelectorAll("#photos img").length === 4, null, { timeout: 20000 });
    await page.waitForFunction(() => [...document.querySelectorAll("#photos img")].every((img) => img.complete && img.naturalWidth > 0));

    await page.click("[data-testid=show]");
    await page.waitForFunction(() => /views kept of \d+ frames/.test(document.getElementById("learn-state").textContent), null, { timeout: 60000 });
    const views = Number((await page.textContent("[data-testid=learn-state]")).match(/^(\d+) views/)[1]);
    assert.ok(views >= 1 && views <= 6, `a handful of views kept: ${views}`);
    await page.waitForFunction((n) => document.querySelectorAll("#photos img").length === 4 + n, views, { timeout: 20000 });

    assert.match(await page.textContent("[data-testid=studio-state]"), /Not calibrated/);
    await page.click("[data-testid=learn-empty]");
    await page.waitForFunction(() => /Empty set: \d+ frames/.test(document.getElementById("studio-state").textContent), null, { timeout: 60000 });
    assert.match(await page.textContent("[data-testid=studio-state]"), /Host without a product: not recorded/);

    // The session cookie is a random id, not the token, and signing out closes it.
    const [cookie] = (await page.context().cookies()).filter((c) => c.name === "cuebox_admin");
    assert.ok(cookie && cookie.httpOnly && cookie.sameSite === "Strict" && cookie.expires > Date.now() / 1000, JSON.stringify(cookie));
    assert.notEqual(cookie.value, TOKEN);
    await page.click("#sign-out button");
    await page.waitForSelector("#token");
    const after = await fetch(d.web + "/api/status", { headers: { Cookie: `cuebox_admin=${cookie.value}` } });
    assert.equal(after.status, 401, "a signed-out session lets nobody in");
  } finally {
    await chromium.close();
    await d.stop();
  }
});
