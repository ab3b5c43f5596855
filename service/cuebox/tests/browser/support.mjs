// Scaffolding for the browser tests: the built daemon on free loopback ports with its embedded
// broker, Debian's Chromium driven by playwright-core, an MQTT client like any integration.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname, resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import mqtt from "mqtt";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const binary = join(repo, "target/release/cuebox");
// The README's pictures are refreshed with CUEBOX_SCREENSHOTS=docs/screenshots; test runs otherwise
// leave the tree as it is.
export const screenshots = resolvePath(repo, process.env.CUEBOX_SCREENSHOTS ?? "target/screenshots");

export function asset(relative) {
  const path = join(repo, relative);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`cargo xtask setup\``);
  return path;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/// A store with the given catalog imported (the demo catalog by default).
export function store(catalog = asset("demo/catalog.yaml")) {
  const dir = mkdtempSync(join(tmpdir(), "cuebox-browser-"));
  execFileSync(binary, ["catalog", "import", catalog, "--db", join(dir, "db")], { cwd: repo, stdio: ["ignore", "ignore", "inherit"] });
  return dir;
}

/// Starts `cuebox run` on `sources` with the embedded broker on free ports; resolves once the
/// daemon says it runs.
export async function daemon({ dir, sources, device = "browser", adminToken = null, extra = "" }) {
  const [mqttPort, wsPort, webPort] = [await freePort(), await freePort(), await freePort()];
  let admin = "";
  if (adminToken) {
    writeFileSync(join(dir, "admin-token"), adminToken + "\n");
    admin = `admin_token_file = "${join(dir, "admin-token")}"\n`;
  }
  const config = join(dir, `${device}.toml`);
  writeFileSync(config, `[device]\nid = "${device}"\nlocale = "zh-CN"\n[capture]\nsource = [${sources.map((s) => `"file://${s}"`).join(", ")}]\n` +
    `[store]\npath = "${join(dir, "db")}"\n[mqtt]\nurl = "embedded"\nembedded_listen = "127.0.0.1:${mqttPort}"\nembedded_ws_listen = "127.0.0.1:${wsPort}"\n` +
    `[web]\nlisten = "127.0.0.1:${webPort}"\n${admin}${extra}\n`);
  const child = spawn(binary, ["run", "--config", config], { cwd: repo, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "info,rumqttd=off" } });
  const log = [];
  await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stderr });
    lines.on("line", (line) => {
      log.push(line);
      if (line.includes("cuebox running")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`cuebox exited with ${code}:\n${log.join("\n")}`)));
  });
  return {
    web: `http://127.0.0.1:${webPort}`,
    mqttPort,
    prefix: `cuebox/${device}`,
    log,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/// An MQTT client on the daemon's broker that records what it receives on `filter`.
export async function listen(port, filter) {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `browser-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, reconnectPeriod: 200 });
  const messages = [];
  const waiters = [];
  client.on("message", (topic, payload) => {
    const text = payload.toString();
    let json = null;
    try { json = JSON.parse(text); } catch { /* plain text */ }
    const message = { topic, text, json, at: Date.now() };
    messages.push(message);
    for (const w of [...waiters]) if (w.accept(message)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(message); }
  });
  await new Promise((resolve, reject) => {
    client.once("connect", () => client.subscribe(filter, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
  });
  return {
    messages,
    publish(topic, value) { client.publish(topic, typeof value === "string" ? value : JSON.stringify(value), { qos: 1 }); },
    next(accept, timeout = 30000) {
      const seen = messages.find(accept);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { accept, resolve };
        waiters.push(waiter);
        setTimeout(() => { if (waiters.includes(waiter)) { waiters.splice(waiters.indexOf(waiter), 1); reject(new Error("timed out waiting for an MQTT message")); } }, timeout);
      });
    },
    close() { client.end(true); },
  };
}

export async function browser() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export function screenshotPath(name) {
  mkdirSync(screenshots, { recursive: true });
  return join(screenshots, name);
}

export function text(path) {
  return readFileSync(path, "utf8");
}

/// Short clips (2.4 s) of the two demo products, so that the product changes often.
export function shortClips(dir) {
  return ["demo/clips/1-box.mp4", "demo/clips/2-cup.mp4"].map((clip) => {
    const out = join(dir, "short-" + clip.split("/").pop());
    execFileSync("gst-launch-1.0", ["-q", "filesrc", `location=${asset(clip)}`, "!", "qtdemux", "!", "h264parse", "!", "avdec_h264", "!",
      "identity", "eos-after=60", "!", "videoconvert", "!", "x264enc", "speed-preset=ultrafast", "key-int-max=25", "!", "mp4mux", "!", "filesink", `location=${out}`]);
    return out;
  });
}
