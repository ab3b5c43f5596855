// Shared by the Cuebox pages: the box's page configuration and a live MQTT-over-WebSocket link
// to the contract's topics (the same client any integration would be).
"use strict";

window.Cuebox = {
  async connect({ topics, onMessage, onStatus }) {
    const config = await (await fetch("/config.json")).json();
    const url = config.ws_url || (config.ws_port ? `ws://${location.hostname}:${config.ws_port}/mqtt` : null);
    if (!url) throw new Error("web.mqtt_ws_url is not configured");
    const prefix = config.prefix + "/";
    const login = config.username ? { username: config.username, password: config.password || "" } : {};
    const client = mqtt.connect(url, {
      clientId: "page-" + Math.random().toString(16).slice(2, 10),
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      ...login,
    });
    client.on("connect", () => {
      onStatus("online");
      client.subscribe(topics.map((t) => prefix + t), { qos: 1 });
    });
    client.on("error", async (error) => {
      // A page login the box no longer knows (it restarted, or newer pages took its place): ask
      // for a fresh one before the next reconnect.
      if (error && (error.code === 4 || error.code === 5)) {
        try {
          const fresh = await (await fetch("/config.json")).json();
          client.options.username = fresh.username || undefined;
          client.options.password = fresh.password || undefined;
        } catch (e) { /* the next reconnect tries again */ }
      }
    });
    client.on("close", () => onStatus("offline"));
    client.on("offline", () => onStatus("offline"));
    client.on("reconnect", () => onStatus("connecting"));
    client.on("message", (topic, payload) => {
      const text = new TextDecoder().decode(payload);
      let message;
      try { message = JSON.parse(text); } catch (e) { message = text; }
      onMessage(topic.slice(prefix.length), message);
    });
    return {
      config,
      publish(kind, value) { client.publish(prefix + kind, JSON.stringify(value), { qos: 1 }); },
    };
  },
};
