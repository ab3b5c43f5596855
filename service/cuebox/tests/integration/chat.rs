//! Viewer messages from every chat source: the oba-live-tool and Social Stream Ninja connectors
//! against local stand-ins of their WebSocket servers, the `POST /api/chat` webhook and MQTT
//! `chat/in`; garbage, floods, disconnects and stalls; answers back out on `chat/out`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use rumqttc::QoS;
use serde_json::{Value, json};

use crate::standin::{Command, StandIn};
use crate::support::{
    Daemon, DaemonConfig, Message, Mosquitto, Subscriber, asset, cuebox, data, eventually, run, stderr,
};

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "chat-webhook-token-42";

/// A store with the chat test catalog (entries in both languages, in one only, banned words).
fn chat_store() -> tempfile::TempDir {
    let db = tempfile::tempdir().unwrap();
    let out = run(cuebox().args(["catalog", "import"]).arg(data("chat-catalog.yaml")).arg("--db").arg(db.path()));
    assert!(out.status.success(), "{}", stderr(&out));
    db
}

fn start(dir: &Path, device: &str, broker: &Mosquitto, extra: &str) -> (DaemonConfig, Daemon) {
    std::fs::write(dir.join("chat-token"), format!("{TOKEN}\n")).unwrap();
    let extra = format!("[chat]\nwebhook_token_file = \"{}\"\n{extra}", dir.join("chat-token").display());
    let config = DaemonConfig::write(
        dir,
        device,
        &[asset("demo/clips/1-box.mp4")],
        dir,
        &format!("url = \"mqtt://127.0.0.1:{}\"", broker.port),
        &extra,
    );
    let log = dir.join(format!("{device}.log"));
    let daemon = Daemon::start_logged(&config.path, &log);
    eventually("the daemon's web server", WAIT, || config.metric("uptime_seconds") > 0.0);
    (config, daemon)
}

/// `name{source="...",...}` from the daemon's `/metrics`.
fn source_metric(config: &DaemonConfig, name: &str, source: &str) -> f64 {
    crate::support::http_get(config.web_port, "/metrics")
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("cuebox_{name}{{source=\"{source}\","))
                .and_then(|rest| rest.split_once("} "))
                .and_then(|(_, v)| v.trim().parse().ok())
        })
        .unwrap_or(-1.0)
}

/// A raw HTTP/1.1 POST of `body`: the status code and body.
fn post(port: u16, token: Option<&str>, body: &[u8]) -> (u16, String) {
    response(send_request(port, token, body.len(), body))
}

/// Sends a POST that declares `declared` body bytes and sends `body` (maybe fewer).
fn send_request(port: u16, token: Option<&str>, declared: usize, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream
}

fn response(mut stream: TcpStream) -> (u16, String) {
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

fn answer_to<'a>(prompts: &'a [Message], question: &str) -> Option<&'a Message> {
    prompts.iter().find(|m| m.json()["question"] == question)
}

#[test]
fn every_source_is_normalised_answered_counted_and_masked() {
    let broker = Mosquitto::start();
    let store = chat_store();
    let (oba, social) = (StandIn::start(), StandIn::start());
    std::fs::write(store.path().join("ssn-session"), "studio-session-7\n").unwrap();
    let sources = format!(
        "[[chat.sources]]\nkind = \"oba-live-tool\"\nname = \"oba\"\nurl = \"{}\"\nplatform = \"kuaishou\"\n\
         [[chat.sources]]\nkind = \"social-stream\"\nname = \"ssn\"\nurl = \"{}\"\nsession_file = \"{}\"\n\
         [faq]\nsemantic = false\n",
        oba.url(),
        social.url(),
        store.path().join("ssn-session").display()
    );
    let live = Subscriber::connect(broker.port, "cuebox/sources/#");
    let (config, daemon) = start(store.path(), "sources", &broker, &sources);
    oba.wait_for_connections(1, WAIT);
    social.wait_for_connections(1, WAIT);
    assert_eq!(social.paths(), ["/join/studio-session-7/4"], "Social Stream is joined on its chat channel");

    for frame in [
        json!({"msg_type": "room_enter", "msg_id": "e1", "nick_name": "a", "user_id": "1", "time": "20:00:01"}),
        json!({"msg_type": "room_like", "msg_id": "e2", "nick_name": "a", "user_id": "1", "time": "20:00:02"}),
        json!({"msg_type": "live_order", "msg_id": "e3", "nick_name": "a", "order_status": "已付款", "order_ts": 1, "product_id": "p", "product_title": "t", "time": "20:00:03"}),
        json!({"msg_type": "a_type_from_a_newer_version", "msg_id": "e4"}),
    ] {
        oba.text(frame.to_string());
    }
    oba.text("{not json");
    oba.send(Command::Binary(vec![0xff, 0x00, 0x13]));
    oba.text(
        json!({"msg_type": "comment", "msg_id": "big", "nick_name": "a", "content": "很".repeat(7000)}).to_string(),
    );
    oba.text(json!({"msg_type": "comment", "msg_id": "c1", "nick_name": "小鹿", "content": "什么时候发货", "time": "20:00:05"}).to_string());
    oba.text(json!({"msg_type": "taobao_comment", "msg_id": "c2", "nick_name": "t", "user_id": "9", "content": "能退货吗", "time": "20:00:06"}).to_string());
    social.text(json!({"chatname": "x", "chatmessage": "", "event": "follow", "type": "twitch"}).to_string());
    social.text(json!({"callback": {"get": "q", "result": true}}).to_string());
    social.text(json!({"chatname": "Ana", "chatmessage": "when do you ship? <img src=\"t.png\" alt=\"🚚\">", "type": "youtube", "id": 77, "textonly": false}).to_string());
    let batch =
        json!([{"platform": "tiktok", "user": "bo", "id": "t9", "text": "加微信 13800001111 多久发货"}]).to_string();
    assert_eq!(post(config.web_port, Some(TOKEN), batch.as_bytes()).0, 200);
    live.client.publish(config.topic("chat/in"), QoS::AtLeastOnce, false, "容量多大".as_bytes().to_vec()).unwrap();

    let mut prompts = Vec::new();
    let mut chat_out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while (prompts.len() < 5 || chat_out.len() < 5) && Instant::now() < deadline {
        if let Some(m) = live.wait_for_any(Duration::from_secs(1)) {
            if m.topic == config.topic("prompt") && m.json()["kind"] == "answer" {
                prompts.push(m);
            } else if m.topic == config.topic("chat/out") {
                assert!(!m.retain && m.qos == QoS::AtLeastOnce, "chat/out is QoS 1, not retained");
                chat_out.push(m.json());
            }
        }
    }
    let shipped = answer_to(&prompts, "什么时候发货").expect("the oba comment is answered").json();
    assert_eq!(
        (
            shipped["faq_id"].as_str(),
            shipped["platform"].as_str(),
            shipped["question_lang"].as_str(),
            shipped["lang"].as_str()
        ),
        (Some("ship-time"), Some("kuaishou"), Some("zh"), Some("zh-CN"))
    );
    assert_eq!((shipped["reply_to"]["id"].as_str(), shipped["reply_to"]["user"].as_str()), (Some("c1"), Some("小鹿")));
    assert!(shipped["reply_to"]["ts"].as_u64().unwrap() > 1_700_000_000_000, "received time when the tool gives none");
    let returns = answer_to(&prompts, "能退货吗").expect("the Taobao comment is answered").json();
    assert_eq!((returns["platform"].as_str(), returns["faq_id"].as_str()), (Some("taobao"), Some("returns")));
    let english = answer_to(&prompts, "when do you ship? 🚚").expect("the Social Stream message is answered").json();
    assert_eq!((english["platform"].as_str(), english["lang"].as_str()), (Some("youtube"), Some("en")));
    assert_eq!((english["reply_to"]["id"].as_str(), english["reply_to"]["user"].as_str()), (Some("77"), Some("Ana")));
    let masked =
        answer_to(&prompts, "*** *********** 多久发货").expect("the webhook message is answered, masked").json();
    assert_eq!((masked["platform"].as_str(), masked["reply_to"]["id"].as_str()), (Some("tiktok"), Some("t9")));
    let mqtt = answer_to(&prompts, "容量多大").expect("chat/in is answered").json();
    assert_eq!((mqtt["platform"].as_str(), mqtt["faq_id"].as_str()), (Some("mqtt"), Some("teapot-capacity")));
    let reply = chat_out.iter().find(|m| m["reply_to"]["id"] == "77").expect("chat/out for the Social Stream message");
    assert_eq!(
        (reply["platform"].as_str(), reply["text"].as_str(), reply["lang"].as_str()),
        (Some("youtube"), Some("We ship within 48 hours of payment."), Some("en"))
    );
    assert!(prompts.iter().all(|m| !m.json().to_string().contains("13800001111")), "the phone number is never shown");
    assert_eq!(config.metric("chat_masked_total"), 1.0);

    let counts = |source: &str| {
        ["received", "taken", "dropped", "rejected", "ignored"]
            .map(|name| source_metric(&config, &format!("chat_source_{name}_total"), source) as i64)
    };
    eventually("the oba frames counted", WAIT, || counts("oba") == [9, 2, 0, 3, 4]);
    assert_eq!(counts("ssn"), [3, 1, 0, 0, 2]);
    assert_eq!(counts("webhook"), [1, 1, 0, 0, 0]);
    assert_eq!(counts("mqtt"), [1, 1, 0, 0, 0]);
    assert_eq!(source_metric(&config, "chat_source_connected", "oba"), 1.0);

    let late = Subscriber::connect(broker.port, &config.topic("chat/status"));
    let status =
        late.wait_for(&config.topic("chat/status"), WAIT, |m| m.retain).expect("a retained chat/status").json();
    let names: Vec<&str> = status["sources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["mqtt", "webhook", "oba", "ssn"]);
    assert_eq!(status["sources"][2]["state"], "connected");
    daemon.stop();
}

#[test]
fn the_webhook_refuses_bad_callers_whole_without_holding_up_the_others() {
    let broker = Mosquitto::start();
    let store = chat_store();
    let live = Subscriber::connect(broker.port, "cuebox/webhook/#");
    let (config, daemon) = start(store.path(), "webhook", &broker, "[faq]\nsemantic = false\n");
    let port = config.web_port;

    let slow = std::thread::spawn(move || {
        let stream = send_request(port, Some(TOKEN), 200, br#"{"text": "#);
        let status = response(stream).0;
        (status, Instant::now())
    });
    let started = Instant::now();
    let (status, body) = post(port, None, br#"{"text": "when do you ship"}"#);
    assert_eq!(status, 401, "{body}");
    assert_eq!(post(port, Some("not-the-token-0"), br#"{"text": "when do you ship"}"#).0, 401);
    let (status, body) = post(port, Some(TOKEN), br#"[{"text": "ok"}, {"text": ""}, {"text": "x", "colour": 1}]"#);
    assert_eq!(status, 400, "{body}");
    let errors: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(errors["errors"].as_array().map(Vec::len), Some(2), "every problem, with its place: {body}");
    assert_eq!(response(send_request(port, Some(TOKEN), 300 * 1024, b"")).0, 413, "a body over the limit");
    assert_eq!(post(port, Some(TOKEN), b"{\"text\": \"\\ud800\"").0, 400);

    let answered =
        json!([{"text": "什么时候发货", "id": "w1"}, {"text": "容量多大", "id": "w2", "platform": "shopee"}]);
    let (status, body) = post(port, Some(TOKEN), answered.to_string().as_bytes());
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (200, json!({"accepted": 2, "dropped": 0})));
    let prompt = live
        .wait_for(&config.topic("prompt"), WAIT, |m| m.json()["reply_to"]["id"] == "w2")
        .expect("answered while a slow caller still holds its request");
    assert_eq!(prompt.json()["platform"], "shopee");
    let (slow_status, cut_off) = slow.join().unwrap();
    assert_eq!(slow_status, 408, "a caller that never finishes its body is cut off");
    assert!(cut_off.duration_since(started) >= Duration::from_secs(4), "{:?}", cut_off.duration_since(started));
    assert!(prompt.at < cut_off, "the others were answered while the slow caller was still waited for");
    let counts =
        ["received", "taken", "rejected"].map(|n| source_metric(&config, &format!("chat_source_{n}_total"), "webhook"));
    assert_eq!(
        counts,
        [8.0, 2.0, 6.0],
        "two unauthorised, malformed, oversized, invalid JSON, slow: each counted once"
    );
    daemon.stop();
}

#[test]
fn a_connector_comes_back_after_a_close_a_stall_and_a_handshake_that_hangs() {
    let broker = Mosquitto::start();
    let store = chat_store();
    let oba = StandIn::start();
    let sources = format!(
        "connect_timeout_ms = 600\nping_interval_ms = 300\nretry_max_ms = 1000\n\
         [[chat.sources]]\nkind = \"oba-live-tool\"\nurl = \"{}\"\n[faq]\nsemantic = false\n",
        oba.url()
    );
    let live = Subscriber::connect(broker.port, "cuebox/recover/#");
    let (config, daemon) = start(store.path(), "recover", &broker, &sources);
    let comment = |id: &str, text: &str| {
        json!({"msg_type": "comment", "msg_id": id, "nick_name": "n", "content": text, "time": "t"}).to_string()
    };
    let answered = |id: &str| {
        live.wait_for(&config.topic("prompt"), WAIT, |m| m.json()["reply_to"]["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {id}"))
    };
    let status_with = |state: &str, error: &str| {
        live.wait_for(&config.topic("chat/status"), WAIT, |m| {
            let source = &m.json()["sources"][2];
            source["state"] == state && source["error"].as_str().unwrap_or("").contains(error)
        })
        .unwrap_or_else(|| panic!("no chat/status with the connector {state} ({error})"))
    };

    oba.wait_for_connections(1, WAIT);
    oba.text(comment("a", "什么时候发货"));
    answered("a");

    oba.send(Command::Close);
    status_with("retrying", "closed");
    oba.wait_for_connections(2, WAIT);
    oba.text(comment("b", "能退货吗"));
    answered("b");

    oba.send(Command::Stall);
    status_with("retrying", "stopped answering");
    oba.wait_for_connections(3, WAIT);
    oba.text(comment("c", "容量多大"));
    answered("c");

    oba.hold_handshakes(true);
    oba.send(Command::Close);
    status_with("retrying", "no WebSocket connection within 600 ms");
    live.client
        .publish(
            config.topic("chat/in"),
            QoS::AtLeastOnce,
            false,
            r#"{"id": "m", "text": "什么时候发货"}"#.as_bytes().to_vec(),
        )
        .unwrap();
    answered("m");
    oba.hold_handshakes(false);
    oba.wait_for_connections(4, WAIT);
    oba.text(comment("d", "多久发货"));
    answered("d");
    assert_eq!(source_metric(&config, "chat_source_reconnects_total", "oba-live-tool"), 3.0);
    assert!(daemon_log(store.path(), "recover").matches("chat connector lost").count() >= 3);
    daemon.stop();
}

fn daemon_log(dir: &Path, device: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{device}.log"))).unwrap_or_default()
}

#[test]
fn a_flood_is_rate_limited_and_counted_without_starving_the_other_sources() {
    let broker = Mosquitto::start();
    let store = chat_store();
    let oba = StandIn::start();
    let sources = format!(
        "[[chat.sources]]\nkind = \"oba-live-tool\"\nname = \"flood\"\nurl = \"{}\"\n[faq]\nsemantic = false\nrate = 10\n",
        oba.url()
    );
    let live = Subscriber::connect(broker.port, "cuebox/flood/#");
    let (config, daemon) = start(store.path(), "flood", &broker, &sources);
    oba.wait_for_connections(1, WAIT);
    let started = Instant::now();
    for n in 0..2000 {
        oba.text(json!({"msg_type": "comment", "msg_id": format!("f{n}"), "nick_name": "n", "content": format!("第{n}个问题 什么时候发货")}).to_string());
    }
    live.client
        .publish(
            config.topic("chat/in"),
            QoS::AtLeastOnce,
            false,
            r#"{"id": "calm", "text": "容量多大"}"#.as_bytes().to_vec(),
        )
        .unwrap();
    live.wait_for(&config.topic("prompt"), WAIT, |m| m.json()["reply_to"]["id"] == "calm")
        .expect("chat/in is answered during the flood");
    eventually("every flood frame counted", WAIT, || {
        source_metric(&config, "chat_source_received_total", "flood") == 2000.0
    });
    let seconds = started.elapsed().as_secs_f64();
    let (taken, dropped) = (
        source_metric(&config, "chat_source_taken_total", "flood"),
        source_metric(&config, "chat_source_dropped_total", "flood"),
    );
    assert_eq!(taken + dropped, 2000.0);
    assert!(taken <= 20.0 + 10.0 * seconds + 1.0, "{taken} taken in {seconds:.1} s at 10 a second");
    assert!(config.metric("chat_dropped_total") >= dropped);
    daemon.stop();
}

#[test]
fn questions_in_another_language_are_answered_from_entries_in_one() {
    let broker = Mosquitto::start();
    let store = chat_store();
    let live = Subscriber::connect(broker.port, "cuebox/languages/#");
    let (config, daemon) = start(store.path(), "languages", &broker, "");
    eventually("the hybrid FAQ index", WAIT, || config.metric("faq_ready") == 1.0);
    for (id, text) in
        [("1", "can I return it if I don't like it"), ("2", "要交关税吗"), ("3", "how soon will you ship it")]
    {
        let message = json!({"id": id, "text": text}).to_string();
        live.client.publish(config.topic("chat/in"), QoS::AtLeastOnce, false, message.into_bytes()).unwrap();
    }
    let answer = |id: &str| {
        live.wait_for(&config.topic("prompt"), WAIT, |m| m.json()["reply_to"]["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {id}"))
            .json()
    };
    let returns = answer("1");
    assert_eq!(
        (returns["faq_id"].as_str(), returns["question_lang"].as_str(), returns["lang"].as_str()),
        (Some("returns"), Some("en"), Some("zh-CN")),
        "a Chinese-only entry answers in Chinese: {returns}"
    );
    let customs = answer("2");
    assert_eq!(
        (customs["faq_id"].as_str(), customs["question_lang"].as_str(), customs["lang"].as_str()),
        (Some("customs"), Some("zh"), Some("en"))
    );
    let ship = answer("3");
    assert_eq!(
        (ship["faq_id"].as_str(), ship["lang"].as_str()),
        (Some("ship-time"), Some("en")),
        "in the asker's language when the entry has it"
    );
    daemon.stop();
}
