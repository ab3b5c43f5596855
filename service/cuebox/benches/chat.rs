//! Viewer chat under load: a real daemon (the demo catalog, hybrid FAQ retrieval, its embedded
//! broker) reads an oba-live-tool stand-in that sends 200 comments a second for a minute
//! (`CHAT_BENCH_SECONDS`, `CHAT_BENCH_RATE` to change them). Reported: what the connector
//! received, took (within `faq.rate`) and dropped; from each comment's sending to its answer
//! arriving from the broker (every answer, first asks and the repeats of grouped questions), as
//! measured here and as the daemon measures receipt to MQTT; the daemon's resident memory over
//! the run. `cargo bench -p cuebox --bench chat`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark code: a failed unwrap, expect or index stops the benchmark"
)]

#[path = "../tests/integration/standin.rs"]
mod standin;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use standin::StandIn;

/// Demo FAQ questions in both languages and live-stream chatter, sent in turn.
const MESSAGES: &[&str] = &[
    "什么时候发货",
    "how long does delivery take",
    "可以退货吗",
    "主播好漂亮",
    "保质期多久",
    "is it dishwasher safe",
    "有坚果吗",
    "666",
    "容量多大",
    "what is the return policy",
    "哈哈哈哈",
    "能用洗碗机吗",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(f64::NAN)
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").trim().to_owned()))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn main() {
    let seconds: u64 = std::env::var("CHAT_BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let rate: u64 = std::env::var("CHAT_BENCH_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let cuebox = env!("CARGO_BIN_EXE_cuebox");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let import = Command::new(cuebox)
        .current_dir(repo())
        .args(["catalog", "import", "demo/catalog.yaml", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));

    let oba = StandIn::start();
    let (mqtt_port, ws_port, web_port) = (free_port(), free_port(), free_port());
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nid = \"bench\"\n[capture]\nsource = \"file://{}\"\n[store]\npath = \"{}\"\n\
             [mqtt]\nembedded_listen = \"127.0.0.1:{mqtt_port}\"\nembedded_ws_listen = \"127.0.0.1:{ws_port}\"\n\
             [web]\nlisten = \"127.0.0.1:{web_port}\"\n[[chat.sources]]\nkind = \"oba-live-tool\"\nname = \"oba\"\nurl = \"{}\"\n",
            repo().join("demo/clips/1-box.mp4").display(),
            db.display(),
            oba.url()
        ),
    )
    .unwrap();
    let mut child = Command::new(cuebox)
        .current_dir(repo())
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || stderr.lines().for_each(drop));
    let pid = child.id();
    let _daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(180);
    while metric(&metrics(web_port), "cuebox_faq_ready ") != 1.0 {
        assert!(Instant::now() < deadline, "the daemon's FAQ was not ready within 3 minutes");
        std::thread::sleep(Duration::from_millis(200));
    }
    oba.wait_for_connections(1, Duration::from_secs(30));

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut options = MqttOptions::new("chat-bench", "127.0.0.1", mqtt_port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = Client::new(options, 64);
    client.subscribe("cuebox/bench/prompt", QoS::AtLeastOnce).unwrap();
    {
        let (sent, latencies) = (sent.clone(), latencies.clone());
        std::thread::spawn(move || {
            for event in connection.iter() {
                let Ok(Event::Incoming(Packet::Publish(p))) = event else { continue };
                let arrived = Instant::now();
                let Ok(prompt) = serde_json::from_slice::<serde_json::Value>(&p.payload) else { continue };
                let Some(id) = prompt["reply_to"]["id"].as_str() else { continue };
                if let Some(at) = sent.lock().unwrap().get(id) {
                    latencies.lock().unwrap().push(arrived.duration_since(*at).as_secs_f64() * 1e3);
                }
            }
        });
    }
    std::thread::sleep(Duration::from_secs(1));

    let mut rss = vec![rss_mb(pid)];
    let started = Instant::now();
    let total = rate * seconds;
    let mut next_sample = started + Duration::from_secs(5);
    for n in 0..total {
        let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let id = format!("b{n}");
        let comment = json!({"msg_type": "comment", "msg_id": id, "nick_name": format!("viewer{}", n % 500), "content": MESSAGES[n as usize % MESSAGES.len()], "time": "20:00:00"});
        sent.lock().unwrap().insert(id, Instant::now());
        oba.text(comment.to_string());
        if Instant::now() >= next_sample {
            rss.push(rss_mb(pid));
            next_sample += Duration::from_secs(5);
        }
    }
    let sending = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    rss.push(rss_mb(pid));
    let text = metrics(web_port);
    let source = |name: &str| {
        metric(&text, &format!("cuebox_chat_source_{name}_total{{source=\"oba\",kind=\"oba-live-tool\"}} "))
    };
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort_by(f64::total_cmp);
    let result = json!({
        "sent": total,
        "send_rate_per_s": (total as f64 / sending * 10.0).round() / 10.0,
        "received": source("received"),
        "taken": source("taken"),
        "dropped": source("dropped"),
        "rejected": source("rejected"),
        "answers": latencies.len(),
        "send_to_answer_ms": {"p50": percentile(&latencies, 0.5), "p99": percentile(&latencies, 0.99), "max": latencies.last()},
        "daemon_receipt_to_mqtt_ms": {"p50": metric(&text, "cuebox_chat_to_mqtt_ms_p50 "), "p99": metric(&text, "cuebox_chat_to_mqtt_ms_p99 ")},
        "rss_mb": rss.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
}
