//! The MQTT contract against Debian's mosquitto: topics, outages, restarts, TLS, logins, ACL,
//! bridging, Home Assistant discovery.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rumqttc::QoS;

use crate::support::{
    Daemon, DaemonConfig, Login, Mosquitto, Subscriber, demo_store, eventually, free_port, login_refused, repo,
    short_clips,
};

const WAIT: Duration = Duration::from_secs(60);

fn plain(port: u16) -> String {
    format!("url = \"mqtt://127.0.0.1:{port}\"")
}

/// The prompt ids `<epoch>-<n>` received, as (epoch, n).
fn prompt_ids(messages: &[crate::support::Message], topic: &str) -> Vec<(String, u64)> {
    messages
        .iter()
        .filter(|m| m.topic == topic)
        .map(|m| {
            let id = m.json()["id"].as_str().expect("prompt id").to_owned();
            let (epoch, n) = id.rsplit_once('-').expect("id is <epoch>-<n>");
            (epoch.to_owned(), n.parse().expect("numbered id"))
        })
        .collect()
}

fn keys(value: &serde_json::Value) -> BTreeSet<String> {
    value.as_object().expect("a JSON object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_topic_has_its_retain_flag_qos_and_payload_shape() {
    let broker = Mosquitto::start();
    let store = demo_store();
    let clips = short_clips(store.path());
    let config = DaemonConfig::write(store.path(), "shape", &clips[..1], store.path(), &plain(broker.port), "");
    let live = Subscriber::connect(broker.port, "cuebox/shape/#");
    let daemon = Daemon::start(&config.path);

    let online = live.wait_for(&config.topic("availability"), WAIT, |m| m.payload == b"online").expect("online");
    assert_eq!(online.qos, QoS::AtLeastOnce);
    let product = live.wait_for(&config.topic("product"), WAIT, |m| m.json()["sku"].is_string()).expect("a product");
    assert_eq!(product.qos, QoS::AtLeastOnce);
    assert_eq!(keys(&product.json()), set(&["sku", "name", "confidence", "source", "since"]));
    assert!(product.json()["since"].as_u64().unwrap() > 1_700_000_000_000, "since is Unix ms");
    let overlay = live.wait_for(&config.topic("overlay"), WAIT, |m| m.json()["sku"].is_string()).expect("an overlay");
    assert_eq!(keys(&overlay.json()), set(&["sku", "title", "price", "promo", "ts"]));
    let prompt = live.wait_for(&config.topic("prompt"), WAIT, |_| true).expect("a prompt");
    assert_eq!(prompt.qos, QoS::AtLeastOnce);
    assert_eq!(
        keys(&prompt.json()),
        set(&["id", "ts", "sku", "kind", "text", "lang", "card", "position", "count", "next"])
    );
    assert!(prompt.json()["next"].as_str().is_some_and(|next| !next.is_empty()), "the next cue is previewed");
    let metrics = live.wait_for(&config.topic("metrics"), WAIT, |_| true).expect("metrics");
    assert_eq!(metrics.qos, QoS::AtMostOnce);
    assert_eq!(
        keys(&metrics.json()),
        set(&[
            "ts",
            "camera",
            "camera_error",
            "camera_outage_ms",
            "camera_restarts",
            "fps_in",
            "fps_processed",
            "frames_dropped",
            "frames_unreadable",
            "inference_ms_p50",
            "inference_ms_p99",
            "outbox_depth",
            "uptime_s"
        ])
    );
    assert_eq!(metrics.json()["camera"], "streaming");

    let sku = product.json()["sku"].clone();
    live.client.publish(config.topic("cmd/cue"), QoS::AtLeastOnce, false, br#"{"action":"next"}"#.to_vec()).unwrap();
    let next =
        live.wait_for(&config.topic("prompt"), WAIT, |m| m.json()["kind"] == "cue").expect("cmd/cue next gives a cue");
    assert_eq!(next.json()["position"], 2);
    assert_eq!(next.json()["sku"], sku);

    for bad in [&br#"{"action":"jump"}"#[..], b"\xff\xfe", br#"{"sku": 7}"#] {
        live.client.publish(config.topic("cmd/cue"), QoS::AtLeastOnce, false, bad.to_vec()).unwrap();
    }
    live.client.publish(config.topic("cmd/product"), QoS::AtLeastOnce, false, vec![b'x'; 20_000]).unwrap();
    eventually("four rejected inputs", WAIT, || config.metric("inputs_rejected_total") == 4.0);

    let late = Subscriber::connect(broker.port, "cuebox/shape/#");
    let retained: Vec<_> =
        late.collect(Duration::from_secs(2)).into_iter().filter(|m| m.retain).map(|m| m.topic).collect();
    for topic in ["availability", "product", "overlay", "cue"] {
        assert!(retained.contains(&config.topic(topic)), "{topic} is retained: {retained:?}");
    }
    for topic in ["prompt", "metrics"] {
        assert!(!retained.contains(&config.topic(topic)), "{topic} is not retained");
    }
    daemon.stop();
}

/// Stopped for 10 s while prompts are made: each arrives once, in order, and capture goes on.
#[test]
fn a_broker_outage_loses_no_prompt_and_does_not_slow_the_camera() {
    let mut broker = Mosquitto::start_with(|port, dir| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
            dir.display()
        )
    });
    let store = demo_store();
    let clips = short_clips(store.path());
    let config = DaemonConfig::write(store.path(), "outage", &clips, store.path(), &plain(broker.port), "");
    let tablet = Login { client_id: Some("tablet-outage".into()), persistent: true, ..Login::default() };
    let subscriber = Subscriber::connect_as(broker.port, &config.topic("prompt"), tablet);
    let daemon = Daemon::start(&config.path);
    subscriber.wait_for(&config.topic("prompt"), WAIT, |_| true).expect("prompts flow before the outage");

    let frames = || config.metric("frames_in_total");
    let (before_at, before) = (Instant::now(), frames());
    std::thread::sleep(Duration::from_secs(3));
    let fps_before = (frames() - before) / before_at.elapsed().as_secs_f64();

    broker.stop();
    let (outage_at, at_outage) = (Instant::now(), frames());
    let prompts_before_outage = config.metric("outbox_delivered_total");
    std::thread::sleep(Duration::from_secs(10));
    let fps_during = (frames() - at_outage) / outage_at.elapsed().as_secs_f64();
    let waiting = config.metric("outbox_depth");
    broker.restart();
    let restarted = Instant::now();

    eventually("the outbox to drain", WAIT, || {
        config.metric("mqtt_connected") == 1.0 && config.metric("outbox_depth") == 0.0
    });
    daemon.stop();
    let received = subscriber.collect(Duration::from_secs(3));
    let ids = prompt_ids(&received, &config.topic("prompt"));
    let after_restart = received.iter().filter(|m| m.at > restarted).count();
    eprintln!(
        "outage: {fps_before:.1} fps before, {fps_during:.1} fps during; {waiting} prompts waited; {after_restart} arrived after the restart; {prompts_before_outage} delivered before"
    );
    assert!(waiting >= 2.0, "prompts were made during the outage ({waiting})");
    assert!(after_restart as f64 >= waiting, "every waiting prompt arrived after the restart");
    let epochs: BTreeSet<&String> = ids.iter().map(|(e, _)| e).collect();
    assert_eq!(epochs.len(), 1);
    let numbers: Vec<u64> = ids.iter().map(|(_, n)| *n).collect();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..first + numbers.len() as u64).collect::<Vec<_>>(),
        "each prompt once, in order, none missing"
    );
    assert!(fps_during >= fps_before * 0.9, "capture kept its pace: {fps_during:.1} vs {fps_before:.1} fps");
}

#[test]
fn prompts_queued_before_a_kill_9_are_delivered_after_the_restart() {
    let mut broker = Mosquitto::start_with(|port, dir| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n",
            dir.display()
        )
    });
    broker.stop();
    let store = demo_store();
    let clips = short_clips(store.path());
    let config = DaemonConfig::write(store.path(), "killed", &clips, store.path(), &plain(broker.port), "");
    let daemon = Daemon::start(&config.path);
    eventually("prompts to wait for the broker", WAIT, || config.metric("outbox_depth") >= 3.0);
    let waiting = config.metric("outbox_depth") as u64;
    daemon.kill9();

    broker.restart();
    let tablet = Login { client_id: Some("tablet-killed".into()), persistent: true, ..Login::default() };
    let subscriber = Subscriber::connect_as(broker.port, &config.topic("prompt"), tablet);
    let daemon = Daemon::start(&config.path);
    eventually("the outbox to drain", WAIT, || {
        config.metric("mqtt_connected") == 1.0 && config.metric("outbox_depth") == 0.0
    });
    daemon.stop();
    let ids = prompt_ids(&subscriber.collect(Duration::from_secs(3)), &config.topic("prompt"));
    let first_run = ids.first().map(|(e, _)| e.clone()).expect("prompts arrived");
    let from_first_run: Vec<u64> = ids.iter().filter(|(e, _)| *e == first_run).map(|(_, n)| *n).collect();
    eprintln!("kill -9: {waiting} prompts were waiting; {} from before the kill arrived", from_first_run.len());
    assert!(from_first_run.len() as u64 >= waiting, "{from_first_run:?} vs {waiting} waiting");
    assert_eq!(from_first_run, (1..=from_first_run.len() as u64).collect::<Vec<_>>(), "each once, in order");
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl {args:?}");
}

/// Started as root, mosquitto runs as its own user: it must be able to read its files.
fn readable_by_mosquitto(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        std::fs::set_permissions(entry.unwrap().path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

fn passwords(dir: &Path, users: &[(&str, &str)]) -> std::path::PathBuf {
    let file = dir.join("passwd");
    for (i, (user, password)) in users.iter().enumerate() {
        let mut command = Command::new("mosquitto_passwd");
        command.arg("-b");
        if i == 0 {
            command.arg("-c");
        }
        assert!(command.arg(&file).args([user, password]).status().unwrap().success());
    }
    file
}

#[test]
fn tls_with_a_client_certificate_and_password_login_against_mosquitto() {
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Cuebox test CA",
        ],
    );
    for (name, extension) in
        [("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")]
    {
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        std::fs::write(d.join(format!("{name}.ext")), extension).unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
    let tls_port = free_port();
    let password_file = passwords(d, &[("cuebox", "s3cret"), ("watcher", "look")]);
    readable_by_mosquitto(d);
    let broker = Mosquitto::start_with(|port, _| {
        format!(
            "allow_anonymous false\npassword_file {pw}\nlistener {port} 127.0.0.1\nlistener {tls_port} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nrequire_certificate true\n",
            pw = password_file.display(),
            d = d.display()
        )
    });
    let store = demo_store();
    let clips = short_clips(store.path());
    std::fs::write(d.join("good"), "s3cret\n").unwrap();
    std::fs::write(d.join("bad"), "guess\n").unwrap();
    let tls = |secret: &str| {
        format!(
            "url = \"mqtts://localhost:{tls_port}\"\ntls_ca = \"{d}/ca.pem\"\nclient_cert = \"{d}/client.pem\"\nclient_key = \"{d}/client.key\"\nusername = \"cuebox\"\npassword_file = \"{d}/{secret}\"",
            d = d.display()
        )
    };
    let watcher = Login { username: Some(("watcher".into(), "look".into())), ..Login::default() };
    let subscriber = Subscriber::connect_as(broker.port, "cuebox/#", watcher);

    let good = DaemonConfig::write(store.path(), "tls-good", &clips, store.path(), &tls("good"), "");
    let daemon = Daemon::start(&good.path);
    subscriber
        .wait_for(&good.topic("availability"), WAIT, |m| m.payload == b"online")
        .expect("online over TLS with a login");
    subscriber.wait_for(&good.topic("product"), WAIT, |m| m.json()["sku"].is_string()).expect("products over TLS");
    daemon.stop();

    let other_store = demo_store();
    let bad = DaemonConfig::write(other_store.path(), "tls-bad", &clips, other_store.path(), &tls("bad"), "");
    let log = d.join("bad.log");
    let mut daemon = Daemon::start_logged(&bad.path, &log);
    eventually("the refusal to be explained", WAIT, || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("refused the login")
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(daemon.is_running(), "a refused login is retried, not fatal");
    assert!(config_healthy(&bad), "the pipeline runs on without the broker");
    daemon.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("refused the login").count(), 1, "said once, not on every retry:\n{text}");
    assert!(!text.contains("panicked"));
}

fn config_healthy(config: &DaemonConfig) -> bool {
    crate::support::http_get(config.web_port, "/healthz").starts_with("ok")
}

#[test]
fn the_example_acl_lets_a_tablet_read_and_send_only_commands_and_chat() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = passwords(dir.path(), &[("cuebox", "box"), ("tablet", "tab")]);
    readable_by_mosquitto(dir.path());
    let acl = repo().join("examples/mosquitto/cuebox.acl");
    let broker = Mosquitto::start_with(|port, _| {
        format!(
            "allow_anonymous false\npassword_file {}\nacl_file {}\nlistener {port} 127.0.0.1\n",
            password_file.display(),
            acl.display()
        )
    });
    let the_box = Subscriber::connect_as(
        broker.port,
        "cuebox/#",
        Login { username: Some(("cuebox".into(), "box".into())), ..Login::default() },
    );
    let tablet = Subscriber::connect_as(
        broker.port,
        "cuebox/#",
        Login { username: Some(("tablet".into(), "tab".into())), ..Login::default() },
    );
    the_box.client.publish("cuebox/studio/prompt", QoS::AtLeastOnce, false, b"{}".to_vec()).unwrap();
    tablet.wait_for("cuebox/studio/prompt", WAIT, |_| true).expect("the tablet reads prompts");
    for (topic, allowed) in [
        ("cuebox/studio/product", false),
        ("cuebox/studio/cmd/cue", true),
        ("cuebox/studio/chat/in", true),
        ("cuebox/studio/prompt", false),
    ] {
        tablet.client.publish(topic, QoS::AtLeastOnce, false, b"from tablet".to_vec()).unwrap();
        let seen = the_box.wait_for(topic, Duration::from_secs(2), |m| m.payload == b"from tablet");
        assert_eq!(seen.is_some(), allowed, "tablet publishing to {topic}");
    }
}

#[test]
fn the_bridge_example_carries_messages_between_brokers() {
    let central = Mosquitto::start();
    let example = std::fs::read_to_string(repo().join("examples/mosquitto/bridge.conf")).unwrap();
    let bridge: String = example
        .lines()
        .filter(|l| !l.starts_with("remote_username") && !l.starts_with("remote_password"))
        .map(|l| if l.starts_with("address ") { format!("address 127.0.0.1:{}", central.port) } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n");
    let studio =
        Mosquitto::start_with(|port, _| format!("listener {port} 127.0.0.1\nallow_anonymous true\n{bridge}\n"));
    let at_central = Subscriber::connect(central.port, "cuebox/#");
    let at_studio = Subscriber::connect(studio.port, "cuebox/#");
    eventually("the bridge to carry a message out", WAIT, || {
        at_studio
            .client
            .publish("cuebox/studio-a/product", QoS::AtLeastOnce, true, b"{\"sku\":\"TEA-001\"}".to_vec())
            .unwrap();
        at_central.wait_for("cuebox/studio-a/product", Duration::from_millis(500), |_| true).is_some()
    });
    at_central
        .client
        .publish("cuebox/studio-a/cmd/cue", QoS::AtLeastOnce, false, br#"{"action":"next"}"#.to_vec())
        .unwrap();
    at_studio.wait_for("cuebox/studio-a/cmd/cue", WAIT, |_| true).expect("commands come in from the central broker");
}

#[test]
fn home_assistant_discovery_when_switched_on() {
    let broker = Mosquitto::start();
    let store = demo_store();
    let clips = short_clips(store.path());
    let config =
        DaemonConfig::write(store.path(), "ha", &clips, store.path(), &plain(broker.port), "home_assistant = true");
    let live = Subscriber::connect(broker.port, "cuebox/ha/#");
    let daemon = Daemon::start(&config.path);
    live.wait_for(&config.topic("availability"), WAIT, |m| m.payload == b"online").expect("online");
    daemon.stop();
    let listener = Subscriber::connect(broker.port, "homeassistant/#");
    let mut found = BTreeSet::new();
    while let Some(m) = listener.wait_for_any(WAIT) {
        assert!(m.retain, "discovery configs are retained");
        let state = m.json()["state_topic"].as_str().unwrap().to_owned();
        assert!(state.starts_with("cuebox/ha/"), "{state}");
        found.insert(m.topic);
        if found.len() == 3 {
            break;
        }
    }
    assert_eq!(
        found,
        set(&[
            "homeassistant/sensor/cuebox_ha/camera/config",
            "homeassistant/sensor/cuebox_ha/fps/config",
            "homeassistant/sensor/cuebox_ha/product/config"
        ])
    );
}

#[test]
fn the_embedded_broker_can_require_a_login() {
    let store = demo_store();
    let clips = short_clips(store.path());
    std::fs::write(store.path().join("users"), "cuebox:inside\ntablet:tab\n").unwrap();
    std::fs::write(store.path().join("secret"), "inside\n").unwrap();
    let port = free_port();
    let mqtt = format!(
        "url = \"embedded\"\nembedded_listen = \"127.0.0.1:{port}\"\nembedded_ws_listen = \"127.0.0.1:{}\"\nembedded_users_file = \"{dir}/users\"\nusername = \"cuebox\"\npassword_file = \"{dir}/secret\"",
        free_port(),
        dir = store.path().display()
    );
    let config = DaemonConfig::write(store.path(), "locked", &clips, store.path(), &mqtt, "");
    let daemon = Daemon::start(&config.path);
    eventually("the embedded broker to accept its own daemon", WAIT, || config.metric("mqtt_connected") == 1.0);
    let tablet = Subscriber::connect_as(
        port,
        "cuebox/locked/#",
        Login { username: Some(("tablet".into(), "tab".into())), ..Login::default() },
    );
    tablet
        .wait_for(&config.topic("availability"), WAIT, |m| m.payload == b"online")
        .expect("a tablet with a login reads");
    assert!(login_refused(port, Login::default()), "no login, no connection");
    assert!(
        login_refused(port, Login { username: Some(("tablet".into(), "wrong".into())), ..Login::default() }),
        "a wrong password is refused"
    );
    daemon.stop();
}
