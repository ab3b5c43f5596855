//! Hostile inputs (docs/security.md): each case asserts the safe outcome, quickly, with nothing
//! changed in the store.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{cuebox, demo_store, run, stderr};

fn export(db: &Path) -> String {
    let out = run(cuebox().args(["catalog", "export", "--db"]).arg(db));
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CRC-32 (ISO-HDLC) of a PNG chunk's type and data.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut typed = kind.to_vec();
    typed.extend_from_slice(data);
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
    out
}

/// A few hundred bytes of PNG whose valid header declares `width` x `height` RGB pixels.
pub fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &header));
    // A zlib stream of one empty final stored block, then a few zero bytes of "data".
    png.extend(chunk(b"IDAT", &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1]));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[test]
fn crc_of_a_known_chunk() {
    // The IEND chunk of every PNG ends with AE 42 60 82.
    assert_eq!(crc32(b"IEND"), 0xAE42_6082);
}

/// `catalog import` of a catalog in its own folder whose one product names `image`.
fn import_naming(db: &Path, folder: &Path, image: &str) -> (std::process::Output, Duration) {
    let file = folder.join("catalog.yaml");
    std::fs::write(
        &file,
        format!("version: 1\ndefault_locale: en\nproducts:\n  - sku: HOSTILE-1\n    name: hostile\n    images: [\"{image}\"]\n"),
    )
    .unwrap();
    let started = Instant::now();
    let out = run(cuebox().args(["catalog", "import"]).arg(&file).arg("--db").arg(db));
    (out, started.elapsed())
}

#[test]
fn hostile_photo_paths_and_bombs_are_refused_quickly_and_change_nothing() {
    let db = demo_store();
    let before = export(db.path());
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("catalog");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(root.path().join("outside.png"), png_declaring(64, 64)).unwrap();
    std::os::unix::fs::symlink(root.path().join("outside.png"), folder.join("link.png")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", folder.join("zero.jpg")).unwrap();
    std::fs::write(folder.join("bomb.png"), png_declaring(20_000, 20_000)).unwrap();
    let fifo = std::ffi::CString::new(folder.join("pipe.jpg").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let outside = root.path().join("outside.png");
    for (image, expected) in [
        ("/dev/zero", "outside the folder"),
        ("zero.jpg", "resolves to /dev/zero, outside the folder"),
        ("pipe.jpg", "pipe.jpg is not a regular file"),
        (".", "is not a regular file"),
        ("../outside.png", "outside the folder"),
        (outside.to_str().unwrap(), "outside the folder"),
        ("link.png", "outside the folder"),
        ("bomb.png", "20000x20000 is 400.0 megapixels, over the limit of 40 megapixels"),
    ] {
        let (out, took) = import_naming(db.path(), &folder, image);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{image}: {err}");
        assert!(
            err.lines().any(|l| l.starts_with("error: ")
                && l.contains("catalog.yaml:6:")
                && l.contains(&format!("products[sku=HOSTILE-1].images: {image}: "))
                && l.contains(expected)),
            "{image}: expected {expected:?} in:\n{err}"
        );
        assert!(took < Duration::from_secs(5), "{image}: took {took:?}");
    }
    assert_eq!(export(db.path()), before, "the store is unchanged");
}

#[test]
fn enroll_refuses_devices_and_bombs() {
    let db = demo_store();
    let folder = tempfile::tempdir().unwrap();
    let bomb = folder.path().join("bomb.png");
    std::fs::write(&bomb, png_declaring(20_000, 20_000)).unwrap();
    let started = Instant::now();
    let out =
        run(cuebox().args(["enroll", "--sku", "BISCUIT-BOX-01", "/dev/zero"]).arg(&bomb).arg("--db").arg(db.path()));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("/dev/zero: /dev/zero is not a regular file"), "{err}");
    assert!(err.contains("bomb.png: 20000x20000 is 400.0 megapixels, over the limit of 40 megapixels"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn retained_commands_left_on_the_broker_are_ignored_at_start() {
    use crate::support::{Daemon, DaemonConfig, Mosquitto, Subscriber, eventually, short_clips};
    use rumqttc::QoS;
    const WAIT: Duration = Duration::from_secs(60);

    let broker = Mosquitto::start();
    let store = demo_store();
    let clips = short_clips(store.path());
    let mqtt = format!("url = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = DaemonConfig::write(store.path(), "retained", &clips[..1], store.path(), &mqtt, "");
    let live = Subscriber::connect(broker.port, "cuebox/retained/#");
    // Left behind by a careless script: a retained pin of the product that is not on camera, and
    // a retained viewer message.
    for (topic, payload) in [
        ("cmd/product", &br#"{"sku":"TUMBLER-BLK-01"}"#[..]),
        ("chat/in", b"how much is it?"),
        ("cmd/cue", br#"{"action":"next"}"#),
    ] {
        live.client.publish(config.topic(topic), QoS::AtLeastOnce, true, payload.to_vec()).unwrap();
        live.wait_for(&config.topic(topic), WAIT, |m| m.payload == payload).expect("the broker keeps it");
    }
    let log = store.path().join("daemon.log");
    let daemon = Daemon::start_logged(&config.path, &log);
    let product = live
        .wait_for(&config.topic("product"), WAIT, |m| m.json()["sku"].is_string())
        .expect("vision puts the product in view on air");
    assert_eq!(product.json()["sku"], "BISCUIT-BOX-01", "{:?}", product.json());
    assert_eq!(product.json()["source"], "vision");
    eventually("three retained inputs counted", WAIT, || config.metric("inputs_retained_ignored_total") == 3.0);
    let later: Vec<_> = live.collect(Duration::from_secs(2));
    assert!(
        !later.iter().any(|m| m.topic == config.topic("product") && m.json()["source"] == "manual"),
        "nothing is pinned"
    );
    daemon.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("retained message on an input topic ignored").count(), 1, "one log line:\n{text}");
}

#[test]
fn a_damaged_store_is_set_aside_and_the_daemon_starts_on_an_empty_one() {
    use crate::support::{Daemon, DaemonConfig, Mosquitto, eventually, http_get, short_clips};
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    // What a power cut in the middle of a write, or a dying SD card, leaves.
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(store.join("conf"), &garbage[..512]).unwrap();
    std::fs::write(store.join("db"), &garbage).unwrap();
    let clips = short_clips(dir.path());
    let mqtt = format!("url = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = DaemonConfig::write(dir.path(), "damaged", &clips[..1], &store, &mqtt, "");
    let log = dir.path().join("daemon.log");
    let daemon = std::cell::RefCell::new(Daemon::start_logged(&config.path, &log));
    eventually("the daemon serves", Duration::from_secs(60), || {
        let running = daemon.borrow_mut().is_running();
        assert!(running, "the daemon exited:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        http_get(config.web_port, "/healthz") == "ok\n"
    });
    let daemon = daemon.into_inner();
    assert_eq!(config.metric("store_set_aside"), 1.0);
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("store.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(aside[0].join("db")).unwrap(), garbage, "the damaged copy is kept as it was");
    daemon.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("the store was damaged").count(), 1, "{text}");
    assert!(!text.contains("panicked"), "{text}");

    // The new store opens as it is the next time.
    let daemon = Daemon::start(&config.path);
    eventually("the daemon serves again", Duration::from_secs(60), || http_get(config.web_port, "/healthz") == "ok\n");
    assert_eq!(config.metric("store_set_aside"), 0.0);
    daemon.stop();
}

#[test]
fn check_config_refuses_an_embedded_broker_open_to_the_network_without_logins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("open.toml");
    std::fs::write(&file, "[mqtt]\nurl = \"embedded\"\nembedded_ws_listen = \"0.0.0.0:8083\"\n").unwrap();
    let out = run(cuebox().arg("check-config").arg("--config").arg(&file));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("open.toml:3: mqtt.embedded_ws_listen: 0.0.0.0:8083 opens the embedded broker beyond this machine without logins"),
        "{err}"
    );
    let started = Instant::now();
    let out = run(cuebox().arg("run").arg("--config").arg(&file));
    assert_eq!(out.status.code(), Some(2), "the daemon does not start: {}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));

    std::fs::write(
        &file,
        "[mqtt]\nurl = \"embedded\"\nembedded_ws_listen = \"0.0.0.0:8083\"\nallow_anonymous_lan = true\n",
    )
    .unwrap();
    let out = run(cuebox().arg("check-config").arg("--config").arg(&file));
    assert!(out.status.success(), "{}", stderr(&out));
}
