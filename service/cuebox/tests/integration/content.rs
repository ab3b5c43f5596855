//! Viewer questions, the demand board, and the content commands of the CLI.

use std::time::Duration;

use rumqttc::QoS;

use crate::support::{
    Daemon, DaemonConfig, Mosquitto, Subscriber, asset, cuebox, data, demo_store, eventually, run, stderr, stdout,
};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn viewer_questions_get_answers_aggregated_and_demand_alerts_the_host() {
    let broker = Mosquitto::start();
    let store = demo_store();
    let config = DaemonConfig::write(
        store.path(),
        "chat",
        &[asset("demo/clips/1-box.mp4")],
        store.path(),
        &format!("url = \"mqtt://127.0.0.1:{}\"", broker.port),
        "[faq]\ndemand_min = 3\n",
    );
    let live = Subscriber::connect(broker.port, "cuebox/chat/#");
    let log = store.path().join("daemon.log");
    let daemon = Daemon::start_logged(&config.path, &log);
    eventually("the hybrid FAQ index", WAIT, || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("FAQ index built hybrid=true")
    });
    eventually("the FAQ ready in /metrics", WAIT, || config.metric("faq_ready") == 1.0);
    live.wait_for(&config.topic("product"), WAIT, |m| m.json()["sku"] == "BISCUIT-BOX-01").expect("the box is on air");
    let chat = config.topic("chat/in");
    let prompt = config.topic("prompt");
    let is_answer = |m: &crate::support::Message| m.json()["kind"] == "answer";

    live.client.publish(&chat, QoS::AtLeastOnce, false, "什么时候发货？".as_bytes().to_vec()).unwrap();
    let answer = live.wait_for(&prompt, WAIT, is_answer).expect("an answer").json();
    assert_eq!(
        (answer["faq_id"].as_str(), answer["question"].as_str(), answer["asked"].as_u64()),
        (Some("ship-time"), Some("什么时候发货？"), Some(1))
    );
    assert!(answer["text"].as_str().unwrap().contains("48"));

    for text in ["什么时候发货", "什么时候发货啊", "什么时候发货？？", "什么时候 发货"] {
        let json = serde_json::json!({"user": "viewer", "text": text}).to_string();
        live.client.publish(&chat, QoS::AtLeastOnce, false, json.into_bytes()).unwrap();
    }
    let repeats: Vec<u64> = (0..2)
        .map(|_| {
            live.wait_for(&prompt, WAIT, is_answer).expect("an aggregated answer").json()["asked"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(repeats, vec![2, 3], "near-identical questions are counted, shown again at 2, 3, 5...");

    live.client.publish(&chat, QoS::AtLeastOnce, false, "主播好漂亮".as_bytes().to_vec()).unwrap();
    live.client.publish(&chat, QoS::AtLeastOnce, false, b"{\"text\": 42}".to_vec()).unwrap();
    for question in ["保温杯容量多大", "杯子能用洗碗机吗", "这个杯子怎么清洗"] {
        live.client.publish(&chat, QoS::AtLeastOnce, false, question.as_bytes().to_vec()).unwrap();
    }
    let alert = live.wait_for(&prompt, WAIT, |m| m.json()["kind"] == "alert").expect("a demand alert").json();
    assert_eq!(alert["sku"], "TUMBLER-BLK-01", "{alert}");
    assert!(alert["text"].as_str().unwrap().contains("黑色随行保温杯"), "{alert}");
    let answers = live.collect(Duration::from_secs(2));
    assert!(answers.iter().all(|m| m.json()["question"] != "主播好漂亮"), "chatter gets no answer");
    assert!(config.metric("inputs_rejected_total") >= 1.0, "a malformed chat message is counted");
    assert!(config.metric("chat_unanswered_total") >= 1.0);
    daemon.stop();
}

#[test]
fn ask_answers_in_the_contract_shape_and_says_nothing_to_chatter() {
    let db = demo_store();
    let out =
        run(cuebox().args(["ask", "--json", "--db"]).arg(db.path()).args(["--sku", "TUMBLER-BLK-01", "能用洗碗机吗"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(answer["question"], "能用洗碗机吗");
    let first = &answer["answers"][0];
    assert_eq!((first["faq_id"].as_str(), first["sku"].as_str()), (Some("tumbler-dishwasher"), Some("TUMBLER-BLK-01")));
    assert!(first["score"].as_f64().unwrap() > 0.0);
    assert_eq!((first["lang"].as_str(), first["question_lang"].as_str()), (Some("zh-CN"), Some("zh")));
    let out = run(cuebox().args(["ask", "--json", "--db"]).arg(db.path()).arg("666"));
    let answer: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(answer["answers"], serde_json::json!([]));
}

#[test]
fn lint_locates_prohibited_terms_and_generate_writes_an_importable_catalog() {
    let out = run(cuebox().args(["catalog", "lint"]).arg(data("bad-terms.yaml")));
    assert_eq!(out.status.code(), Some(2), "errors make lint fail");
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.contains("bad-terms.yaml:5:") && l.contains("error: products[0].name") && l.contains("最")),
        "{text}"
    );
    assert!(stderr(&out).contains("errors,"), "{}", stderr(&out));
    let out = run(cuebox().args(["catalog", "lint"]).arg(asset("demo/catalog.yaml")));
    assert!(out.status.success(), "the demo catalog lints clean: {}", stdout(&out));

    let out =
        run(cuebox().args(["catalog", "generate", "--cards", "3", "--variants", "2"]).arg(data("no-script.yaml")));
    assert!(out.status.success(), "{}", stderr(&out));
    let generated = stdout(&out);
    assert_eq!(generated.matches("generated: true").count(), 3, "{generated}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("generated.yaml");
    std::fs::write(&file, &generated).unwrap();
    let db = dir.path().join("db");
    let imported = run(cuebox().args(["catalog", "import"]).arg(&file).arg("--db").arg(&db));
    assert!(imported.status.success(), "{}", stderr(&imported));
    let out = run(cuebox().args(["catalog", "lint"]).arg(&file));
    assert!(!stdout(&out).contains("error:"), "generated cards are lint-clean: {}", stdout(&out));
}
