//! Teaching recognition on the job, through the admin API of a running daemon (real GStreamer
//! on the demo clip, real models, sled on disk, mosquitto): the host's corrections kept as
//! suggestions and added with one click, a product held up and turned enrolled as a handful of
//! views, the studio learned without a product; and `cuebox calibrate` on recorded frames.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rumqttc::QoS;
use serde_json::Value;

use crate::support::{
    Daemon, DaemonConfig, Mosquitto, Subscriber, asset, cuebox, demo_store, eventually, free_port, run, stderr, stdout,
};

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "studio-admin-token-7";
const SHOWN: &str = "BISCUIT-BOX-01";
const PINNED: &str = "TUMBLER-BLK-01";

/// A raw HTTP/1.1 request with the admin token (or none): the status and the body's bytes.
fn request(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |at| at + 4);
    let status = String::from_utf8_lossy(&response[..split]).split(' ').nth(1).and_then(|s| s.parse().ok());
    (status.unwrap_or(0), response[split..].to_vec())
}

fn admin(port: u16, method: &str, path: &str) -> (u16, Value) {
    let (status, body) = request(port, method, path, Some(TOKEN));
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn references_of(port: u16, sku: &str) -> usize {
    let (status, body) = admin(port, "GET", &format!("/api/products/{sku}"));
    assert_eq!(status, 200, "{body}");
    body["references"].as_array().unwrap().len()
}

#[test]
fn corrections_shown_products_and_the_studio_are_learned_on_the_running_daemon() {
    let broker = Mosquitto::start();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::write(dir.join("admin-token"), format!("{TOKEN}\n")).unwrap();
    let web_port = free_port();
    let path = dir.join("studio.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nid = \"studio\"\n[capture]\nsource = \"file://{}\"\n[store]\npath = \"{}\"\n\
             [mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\n[web]\nlisten = \"127.0.0.1:{web_port}\"\nadmin_token_file = \"{}\"\n",
            asset("demo/clips/1-box.mp4").display(),
            dir.join("db").display(),
            broker.port,
            dir.join("admin-token").display()
        ),
    )
    .unwrap();
    let config = DaemonConfig { device: "studio".into(), web_port, path };
    let out = run(cuebox().args(["catalog", "import"]).arg(asset("demo/catalog.yaml")).arg("--db").arg(dir.join("db")));
    assert!(out.status.success(), "{}", stderr(&out));
    let live = Subscriber::connect(broker.port, &config.topic("#"));
    let daemon = Daemon::start_logged(&config.path, &dir.join("studio.log"));
    let port = config.web_port;
    live.wait_for(&config.topic("product"), WAIT, |m| m.json()["sku"] == SHOWN)
        .expect("vision names the product of the clip");

    for (method, path) in [("GET", "/api/studio"), ("POST", "/api/studio/empty"), ("GET", "/api/suggestions")] {
        assert_eq!(request(port, method, path, None).0, 401, "{method} {path} needs the admin token");
    }
    assert_eq!(admin(port, "POST", "/api/studio/ceiling").0, 400, "an unknown phase is refused");
    assert_eq!(admin(port, "POST", "/api/studio/empty?seconds=0").0, 400, "a recording of no time is refused");
    assert_eq!(admin(port, "POST", "/api/studio/empty?seconds=600").0, 400, "an endless recording is refused");
    assert_eq!(admin(port, "POST", "/api/products/NO-SUCH/shown?seconds=1").0, 422);
    assert_eq!(admin(port, "GET", "/api/studio").1["calibrated"], false);

    // The host pins the tumbler while the camera shows the biscuit box: the frame is kept.
    let pin = format!("{{\"sku\": \"{PINNED}\"}}");
    live.client.publish(config.topic("cmd/product"), QoS::AtLeastOnce, false, pin.into_bytes()).unwrap();
    eventually("the corrected frame kept", WAIT, || config.metric("suggestions_kept_total") >= 1.0);
    let (status, listed) = admin(port, "GET", "/api/suggestions");
    assert_eq!(status, 200);
    let suggestion = listed["suggestions"][0].clone();
    assert_eq!(suggestion["sku"], PINNED);
    assert_eq!(suggestion["seen_as"], SHOWN, "what vision named at the time");
    let id = suggestion["id"].as_u64().unwrap();
    let region: Vec<u64> = suggestion["region"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(region[2] > 0 && region[3] > 0, "where the product was thought to be: {region:?}");
    let (status, frame) = request(port, "GET", &format!("/api/suggestions/{id}/frame"), Some(TOKEN));
    assert_eq!((status, &frame[..2]), (200, &[0xff, 0xd8][..]), "the kept frame is a JPEG");
    let pinned_before = references_of(port, PINNED);
    let (status, accepted) = admin(port, "POST", &format!("/api/suggestions/{id}"));
    assert_eq!(status, 200, "{accepted}");
    assert!(references_of(port, PINNED) > pinned_before, "one click adds the frame to the product's references");
    assert_eq!(admin(port, "GET", "/api/suggestions").1["suggestions"].as_array().unwrap().len(), 0);
    assert_eq!(admin(port, "POST", &format!("/api/suggestions/{id}")).0, 404, "a suggestion is added once");
    assert_eq!(admin(port, "DELETE", &format!("/api/suggestions/{id}")).0, 404);
    live.client.publish(config.topic("cmd/product"), QoS::AtLeastOnce, false, b"{\"sku\": null}".to_vec()).unwrap();

    // Held up and turned: a handful of different views, not every frame.
    let shown_before = references_of(port, SHOWN);
    let (status, learned) = admin(port, "POST", &format!("/api/products/{SHOWN}/shown?seconds=3"));
    assert_eq!(status, 200, "{learned}");
    let (frames, views) = (learned["frames"].as_u64().unwrap(), learned["views"].as_u64().unwrap());
    assert!(frames >= 4, "about four frames a second are looked at: {learned}");
    assert!((1..=6).contains(&views) && views <= frames, "a handful of views kept: {learned}");
    assert!(references_of(port, SHOWN) > shown_before);

    // The studio without a product, each part on its own; it outlives a restart.
    let (status, empty) = admin(port, "POST", "/api/studio/empty?seconds=1");
    assert_eq!(status, 200, "{empty}");
    assert!(empty["empty"]["frames"].as_u64().unwrap() >= 1 && empty["host"]["frames"] == 0, "{empty}");
    let (status, both) = admin(port, "POST", "/api/studio/host?seconds=1");
    assert_eq!(status, 200, "{both}");
    assert_eq!(both["empty"]["frames"], empty["empty"]["frames"], "recording the host keeps the empty set");
    daemon.stop();
    let daemon = Daemon::start_logged(&config.path, &dir.join("studio-again.log"));
    eventually("the daemon's web server again", WAIT, || config.metric("uptime_seconds") > 0.0);
    let log = std::fs::read_to_string(dir.join("studio-again.log")).unwrap();
    let loaded = log.lines().find(|line| line.contains("gallery loaded")).expect("the gallery is loaded");
    assert!(!loaded.contains("studio=0"), "the gallery loads the studio's view after a restart: {loaded}");
    assert_eq!(admin(port, "GET", "/api/studio").1["calibrated"], true);
    assert_eq!(admin(port, "DELETE", "/api/studio").1["forgotten"], true);
    assert_eq!(admin(port, "GET", "/api/studio").1["calibrated"], false);
    daemon.stop();
}

#[test]
fn cuebox_calibrate_learns_the_studio_from_recorded_frames_and_bad_frames_change_nothing() {
    let store = demo_store();
    let db = store.path();
    let frame = |name: &str| asset(&format!("eval/vision/studio/calibration/{name}"));
    let empty: Vec<_> = ["astronaut-empty-1.jpg", "astronaut-empty-2.jpg"].iter().map(|f| frame(f)).collect();
    let calibrate = |args: &[&std::ffi::OsStr]| run(cuebox().arg("calibrate").args(args).arg("--db").arg(db));

    let nothing = calibrate(&[]);
    assert_eq!(nothing.status.code(), Some(2), "{}", stderr(&nothing));
    assert!(stderr(&nothing).contains("--empty"), "{}", stderr(&nothing));

    let not_an_image = crate::support::data("not-an-image.jpg");
    let bad = calibrate(&["--empty".as_ref(), empty[0].as_os_str(), "--host".as_ref(), not_an_image.as_os_str()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("not-an-image.jpg"), "the bad file is named: {}", stderr(&bad));
    let forget = calibrate(&["--forget".as_ref()]);
    assert!(stdout(&forget).contains("was not calibrated"), "a bad frame changed nothing: {}", stdout(&forget));

    let good = calibrate(&["--empty".as_ref(), empty[0].as_os_str(), empty[1].as_os_str()]);
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(stdout(&good).contains("2 frames of the empty set, 0 of the host"), "{}", stdout(&good));
    let forget = calibrate(&["--forget".as_ref()]);
    assert!(stdout(&forget).contains("forgotten"), "{}", stdout(&forget));
}
