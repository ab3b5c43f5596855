import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { asset, browser, daemon, listen, screenshotPath, shortClips, store } from "./support.mjs";

test("the prompter shows a new product and its cue within a second of the daemon naming it", async () => {
  const dir = store();
  const d = await daemon({ dir, sources: shortClips(dir), device: "tablet" });
  const watch = await listen(d.mqttPort, `${d.prefix}/#`);
  const chromium = await browser();
  try {
    const page = await chromium.newPage({ viewport: { width: 1180, height: 820 } });
    await page.goto(d.web + "/");
    await page.waitForFunction(() => document.getElementById("conn").className === "online");
    const openedAt = Date.now();
    const change = await watch.next((m) => m.topic === `${d.prefix}/product` && m.json && m.json.sku && m.at > openedAt);
    const cue = await watch.next((m) => m.topic === `${d.prefix}/cue` && m.json && m.json.sku === change.json.sku && m.at >= change.at);
    await page.waitForFunction(
      ([sku, text]) => document.getElementById("product-name").dataset.sku === sku && document.getElementById("cue-text").textContent === text,
      [change.json.sku, cue.json.text],
      { timeout: 5000, polling: 10 },
    );
    const delay = Date.now() - change.at;
    console.log(`prompter: ${change.json.sku} shown ${delay} ms after its product message`);
    assert.ok(delay < 1000, `shown ${delay} ms after the daemon named it`);
    assert.equal(await page.textContent("#product-name"), change.json.name);
  } finally {
    watch.close();
    await chromium.close();
    await d.stop();
  }
});

test("Next publishes cmd/cue and the next cue appears; screenshots at tablet size", async () => {
  const dir = store();
  const d = await daemon({ dir, sources: [asset("demo/clips/1-box.mp4")], device: "host" });
  const watch = await listen(d.mqttPort, `${d.prefix}/#`);
  const chromium = await browser();
  try {
    const page = await chromium.newPage({ viewport: { width: 1180, height: 820 } });
    await page.goto(d.web + "/");
    await page.waitForFunction(() => document.getElementById("cue-text").dataset.card === "intro", null, { timeout: 30000 });
    const before = await page.textContent("#cue-next");
    assert.ok(before.length > 4, "the next card is previewed");
    await page.click("#next");
    const command = await watch.next((m) => m.topic === `${d.prefix}/cmd/cue`);
    assert.deepEqual(command.json, { action: "next" });
    const cue = await watch.next((m) => m.topic === `${d.prefix}/cue` && m.json && m.json.position === 2);
    await page.waitForFunction((text) => document.getElementById("cue-text").textContent === text, cue.json.text, { timeout: 5000 });
    assert.match(await page.textContent("#cue-label"), /2\/4/);
    assert.ok(before.endsWith(cue.json.text) || before.length > 0);
    await page.screenshot({ path: screenshotPath("prompter-landscape.png") });
    await page.setViewportSize({ width: 820, height: 1180 });
    await page.screenshot({ path: screenshotPath("prompter-portrait.png") });
    await page.click("#language");
    assert.equal(await page.textContent("#next"), "Next ▶", "the UI switches to English");
  } finally {
    watch.close();
    await chromium.close();
    await d.stop();
  }
});

test("a viewer question sent to chat/in appears on the tablet with its answer", async () => {
  const dir = store();
  const d = await daemon({ dir, sources: [asset("demo/clips/1-box.mp4")], device: "questions", extra: "[faq]\nsemantic = false\n" });
  const watch = await listen(d.mqttPort, `${d.prefix}/#`);
  const chromium = await browser();
  try {
    const page = await chromium.newPage({ viewport: { width: 1180, height: 820 } });
    await page.goto(d.web + "/");
    await page.waitForFunction(() => document.getElementById("conn").className === "online");
    watch.publish(`${d.prefix}/chat/in`, { user: "viewer-1", text: "什么时候发货？" });
    await page.waitForSelector("[data-testid=questions] li", { timeout: 15000 });
    assert.match(await page.textContent("[data-testid=questions] li .q"), /什么时候发货/);
    assert.equal(await page.isVisible("[data-testid=questions] li .a"), false, "the answer is folded");
    await page.click("[data-testid=questions] li");
    assert.match(await page.textContent("[data-testid=questions] li .a"), /48/);
    watch.publish(`${d.prefix}/chat/in`, "什么时候发货啊");
    await page.waitForFunction(() => document.querySelector("[data-testid=questions] li .count").textContent.length > 0, null, { timeout: 15000 });
    assert.equal(await page.locator("[data-testid=questions] li").count(), 1, "the same question is counted, not listed twice");
  } finally {
    watch.close();
    await chromium.close();
    await d.stop();
  }
});

test("a question from the chat webhook shows its language on the tablet and its phone number masked", async () => {
  const dir = store();
  writeFileSync(join(dir, "chat-token"), "webhook-secret-1234\n");
  const extra = `[faq]\nsemantic = false\n[chat]\nwebhook_token_file = "${join(dir, "chat-token")}"\n`;
  const d = await daemon({ dir, sources: [asset("demo/clips/1-box.mp4")], device: "webhook", extra });
  const watch = await listen(d.mqttPort, `${d.prefix}/#`);
  const chromium = await browser();
  try {
    const page = await chromium.newPage({ viewport: { width: 1180, height: 820 } });
    await page.goto(d.web + "/");
    await page.waitForFunction(() => document.getElementById("conn").className === "online");
    const post = (token, body) => fetch(d.web + "/api/chat", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal((await post("wrong-token-000", { text: "when do you ship" })).status, 401);
    const response = await post("webhook-secret-1234", [{ platform: "tiktok", user: "ana", id: "m-1", text: "when do you ship? call me 13812345678" }]);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { accepted: 1, dropped: 0 });
    const out = await watch.next((m) => m.topic === `${d.prefix}/chat/out`);
    assert.deepEqual(out.json.reply_to, { id: "m-1", user: "ana", ts: out.json.reply_to.ts });
    assert.ok(out.json.reply_to.ts > 1_700_000_000_000, "the time the message was received, when the caller gives none");
    assert.equal(out.json.platform, "tiktok");
    await page.waitForSelector("[data-testid=questions] li [data-testid=question-lang]", { timeout: 15000 });
    const badge = page.locator("[data-testid=questions] li [data-testid=question-lang]");
    assert.equal(await badge.getAttribute("data-lang"), "en");
    assert.equal(await badge.textContent(), "英语", "the question's language, named in the tablet's language");
    const question = await page.textContent("[data-testid=questions] li .q");
    assert.ok(question.includes("when do you ship") && question.includes("***********") && !question.includes("13812345678"), question);
    await page.click("#language");
    assert.equal(await badge.textContent(), "English");
  } finally {
    watch.close();
    await chromium.close();
    await d.stop();
  }
});
