//! Hostile inputs (docs/security.md): each case asserts the safe outcome, quickly, with nothing
//! changed in the store.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{cuebox, demo_store, open_files, run, stderr, stdout};

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
fn import_naming(db: &Path, folder: &Path, image: &str) -> Measured {
    let file = folder.join("catalog.yaml");
    std::fs::write(
        &file,
        format!("version: 1\ndefault_locale: en\nproducts:\n  - sku: HOSTILE-1\n    name: hostile\n    images: [\"{image}\"]\n"),
    )
    .unwrap();
    run_measured(cuebox().args(["catalog", "import"]).arg(&file).arg("--db").arg(db))
}

/// A command's outcome, how long it took and its peak resident memory.
struct Measured {
    code: Option<i32>,
    stderr: String,
    took: Duration,
    peak_mib: f64,
}

/// Runs `command` to its end and reaps it with wait4, which tells the child's own peak memory
/// (other tests' children do not count).
#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4, which also tells its peak memory")]
fn run_measured(command: &mut std::process::Command) -> Measured {
    use std::io::Read;
    let started = Instant::now();
    let mut child = command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: reaping our own child, with valid pointers to fill.
    let reaped = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(reaped, child.id() as i32);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Measured { code, stderr, took: started.elapsed(), peak_mib: usage.ru_maxrss as f64 / 1024.0 }
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
    // What a harmless refusal costs: a photo that is not there.
    let missing = import_naming(db.path(), &folder, "missing.png");
    assert_eq!(missing.code, Some(2), "{}", missing.stderr);
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
        let out = import_naming(db.path(), &folder, image);
        let err = &out.stderr;
        assert_eq!(out.code, Some(2), "{image}: {err}");
        assert!(
            err.lines().any(|l| l.starts_with("error: ")
                && l.contains("catalog.yaml:6:")
                && l.contains(&format!("products[sku=HOSTILE-1].images: {image}: "))
                && l.contains(expected)),
            "{image}: expected {expected:?} in:\n{err}"
        );
        assert!(
            out.took < missing.took + Duration::from_secs(1),
            "{image}: {:?}, a missing photo {:?}",
            out.took,
            missing.took
        );
        assert!(
            out.peak_mib < missing.peak_mib + 50.0,
            "{image}: peak {:.0} MiB, a missing photo {:.0} MiB",
            out.peak_mib,
            missing.peak_mib
        );
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
fn retained_commands_are_ignored_at_start_and_a_command_flood_is_cut_to_its_rate() {
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

    // A flood of commands, on the two known topics and on ever new ones: beyond 20 a second (after
    // a burst of 40) they are dropped and counted, and the new topics are logged as one kind.
    for i in 0..300 {
        let topic = if i % 2 == 0 { config.topic("cmd/cue") } else { config.topic(&format!("cmd/flood-{i}")) };
        live.client.publish(topic, QoS::AtMostOnce, false, br#"{"action":"repeat"}"#.to_vec()).unwrap();
    }
    eventually("the flood counted", WAIT, || config.metric("commands_over_rate_total") >= 150.0);
    daemon.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("retained message on an input topic ignored").count(), 1, "one log line:\n{text}");
    let unknown_topics_logged =
        text.lines().filter(|l| l.contains("input dropped") && l.contains("cmd/flood-")).count();
    assert!(unknown_topics_logged <= 1, "new topics are one kind:\n{text}");
}

/// One HTTP/1.1 exchange on a new connection: the status, the raw headers and the body.
fn http(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // Written on its own thread, so that an answer sent before the whole request was read (413)
    // is read as it comes, before the server closes the connection.
    let mut writer = stream.try_clone().unwrap();
    let request = request.to_vec();
    std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, head, response[split + 4..].to_vec())
}

fn post_form(port: u16, path: &str, body: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, head, _) = http(port, request.as_bytes());
    (status, head)
}

fn get_with(port: u16, path: &str, cookie: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n");
    http(port, request.as_bytes()).0
}

/// A daemon on the demo store with an admin token, its web port ready.
struct WebDaemon {
    daemon: crate::support::Daemon,
    config: crate::support::DaemonConfig,
    store: tempfile::TempDir,
    _broker: crate::support::Mosquitto,
}

const TOKEN: &str = "the-admin-token-of-the-test";

fn web_daemon(device: &str) -> WebDaemon {
    use crate::support::{Daemon, DaemonConfig, Mosquitto, eventually, http_get, short_clips};
    let broker = Mosquitto::start();
    let store = demo_store();
    let clips = short_clips(store.path());
    let mqtt = format!("url = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = DaemonConfig::write(store.path(), device, &clips[..1], store.path(), &mqtt, "");
    let token = store.path().join("admin-token");
    std::fs::write(&token, TOKEN).unwrap();
    let daemon = Daemon::start_with_env(&config.path, &[("CUEBOX_WEB_ADMIN_TOKEN_FILE", token.to_str().unwrap())]);
    eventually("the web server", Duration::from_secs(60), || http_get(config.web_port, "/healthz").starts_with("ok\n"));
    WebDaemon { daemon, config, store, _broker: broker }
}

#[test]
fn slow_and_silent_connections_are_closed_and_their_number_is_capped() {
    use std::io::{Read, Write};
    let web = web_daemon("slow-http");
    let port = web.config.web_port;

    // Headers that never end, and a connection that never says anything: both closed.
    let mut partial = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    partial.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let started = Instant::now();
    for stream in [&mut partial, &mut silent] {
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut rest = Vec::new();
        let closed = stream.read_to_end(&mut rest);
        assert!(closed.is_ok(), "the server closes the connection: {closed:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(12), "closed after {:?}", started.elapsed());

    // 400 connections that say nothing: at most 256 are held open at once, and /healthz is still
    // answered (after the ones ahead of it time out).
    let before = open_files(web.daemon.pid());
    let crowd: Vec<_> = (0..400).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        peak = peak.max(open_files(web.daemon.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(peak <= before + 256 + 16, "{peak} files open with 400 idle connections (before: {before})");
    let asked = Instant::now();
    let (status, _, body) = http(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 200);
    assert!(body.starts_with(b"ok\n"), "{}", String::from_utf8_lossy(&body));
    assert!(asked.elapsed() < Duration::from_secs(20), "/healthz took {:?}", asked.elapsed());
    drop(crowd);
    web.daemon.stop();
}

#[test]
fn admin_sign_in_is_a_post_that_opens_an_expiring_session_and_wrong_tokens_are_throttled() {
    let web = web_daemon("sessions");
    let port = web.config.web_port;

    let (status, head) = post_form(port, "/admin/login", &format!("token={TOKEN}"), None);
    assert_eq!(status, 303, "{head}");
    let cookie_line = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("a cookie");
    assert!(!cookie_line.contains(TOKEN), "the cookie is not the token: {cookie_line}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie_line.contains(attribute), "{attribute} in {cookie_line}");
    }
    assert!(!cookie_line.contains("Secure"), "plain HTTP: {cookie_line}");
    let cookie = cookie_line.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_owned();
    let id = cookie.strip_prefix("cuebox_admin=").expect("the session cookie");
    let behind_tls = format!(
        "POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Forwarded-Proto: https\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\ntoken={TOKEN}",
        "token=".len() + TOKEN.len()
    );
    let (status, tls_head, _) = http(port, behind_tls.as_bytes());
    assert_eq!(status, 303, "{tls_head}");
    assert!(tls_head.contains("; Secure"), "a sign-in through a TLS proxy gets a Secure cookie: {tls_head}");
    assert!(id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_eq!(get_with(port, "/api/status", &cookie), 200);
    assert_eq!(get_with(port, "/api/status", &format!("cuebox_admin={TOKEN}")), 401, "the token is no cookie");

    let (status, head) = post_form(port, "/admin/logout", "", Some(&cookie));
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("Max-Age=0"), "the cookie is cleared: {head}");
    assert_eq!(get_with(port, "/api/status", &cookie), 401, "a closed session lets nobody in");

    let (status, _) = post_form(port, "/admin/login", "token=wrong-token-1234", None);
    assert_eq!(status, 401);
    let (status, head) = post_form(port, "/admin/login", &format!("token={TOKEN}"), None);
    assert_eq!(status, 429, "right after a wrong token even the right one waits: {head}");
    assert!(head.to_ascii_lowercase().contains("retry-after: "), "{head}");
    web.daemon.stop();
}

#[test]
fn an_oversized_upload_is_refused_while_it_arrives_and_leaves_no_folder() {
    let web = web_daemon("uploads");
    let port = web.config.web_port;
    let (status, head) = post_form(port, "/admin/login", &format!("token={TOKEN}"), None);
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();

    let boundary = "cueboxboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"catalog\"; filename=\"catalog.yaml\"\r\n\r\nversion: 1\nproducts: []\n\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"huge.jpg\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(0u8, 26 * 1024 * 1024));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let mut request = format!(
        "POST /api/catalog HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend(body);
    let (status, _, answer) = http(port, &request);
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("huge.jpg: over the limit of 25 MB"), "{answer}");
    let uploads = web.store.path().join("uploads");
    let left: Vec<_> = std::fs::read_dir(&uploads).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "upload folders left: {left:?}");
    web.daemon.stop();
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
        http_get(config.web_port, "/healthz").starts_with("ok\n")
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
    eventually("the daemon serves again", Duration::from_secs(60), || {
        http_get(config.web_port, "/healthz").starts_with("ok\n")
    });
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

fn get_json(port: u16, path: &str, cookie: Option<&str>) -> (serde_json::Value, String) {
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{cookie}\r\n");
    let (status, _, body) = http(port, request.as_bytes());
    assert_eq!(status, 200, "{path}");
    let text = String::from_utf8_lossy(&body).into_owned();
    (serde_json::from_str(&text).unwrap(), text)
}

fn page_login(config: &serde_json::Value) -> crate::support::Login {
    let username = config["username"].as_str().expect("a page login").to_owned();
    let password = config["password"].as_str().expect("its password").to_owned();
    crate::support::Login { username: Some((username, password)), ..Default::default() }
}

#[test]
fn the_embedded_broker_lets_each_login_do_only_what_it_may() {
    use crate::support::{Daemon, DaemonConfig, Login, Subscriber, eventually, free_port, login_refused, short_clips};
    use rumqttc::QoS;
    const WAIT: Duration = Duration::from_secs(60);

    let store = demo_store();
    let dir = store.path();
    let clips = short_clips(dir);
    std::fs::write(dir.join("users"), "cuebox:inside-secret\ntablet:tablet-secret\n").unwrap();
    std::fs::write(dir.join("secret"), "inside-secret\n").unwrap();
    std::fs::write(dir.join("admin-token"), TOKEN).unwrap();
    let port = free_port();
    let mqtt = format!(
        "url = \"embedded\"\nembedded_listen = \"127.0.0.1:{port}\"\nembedded_ws_listen = \"127.0.0.1:{}\"\nembedded_users_file = \"{dir}/users\"\nusername = \"cuebox\"\npassword_file = \"{dir}/secret\"",
        free_port(),
        dir = dir.display()
    );
    let config = DaemonConfig::write(dir, "gate", &clips[..1], dir, &mqtt, "");
    let token = dir.join("admin-token");
    let daemon = Daemon::start_with_env(&config.path, &[("CUEBOX_WEB_ADMIN_TOKEN_FILE", token.to_str().unwrap())]);
    eventually("the daemon's own link", WAIT, || config.metric("mqtt_connected") == 1.0);
    let denied = || config.metric("broker_publishes_denied_total");

    // A page that is not signed in gets a read-only login of its own, and no password of the file.
    let (page, text) = get_json(config.web_port, "/config.json", None);
    assert_eq!((page["can_send"].as_bool(), page["signed_in"].as_bool()), (Some(false), Some(false)), "{text}");
    assert!(!text.contains("secret"), "no password of the users file: {text}");
    let reader = Subscriber::connect_as(port, "cuebox/gate/#", page_login(&page));
    reader.wait_for(&config.topic("availability"), WAIT, |m| m.payload == b"online").expect("a page login reads");
    reader.client.publish(config.topic("cmd/cue"), QoS::AtLeastOnce, false, br#"{"action":"next"}"#.to_vec()).unwrap();
    eventually("the reader's command refused", WAIT, || denied() == 1.0);

    // A login of the file drives the show, but cannot forge what the daemon publishes.
    let tablet = Login { username: Some(("tablet".into(), "tablet-secret".into())), ..Login::default() };
    let operator = Subscriber::connect_as(port, "cuebox/gate/#", tablet.clone());
    let pin = br#"{"sku":"TUMBLER-BLK-01"}"#.to_vec();
    operator.client.publish(config.topic("cmd/product"), QoS::AtLeastOnce, false, pin).unwrap();
    operator
        .wait_for(&config.topic("product"), WAIT, |m| {
            m.json()["sku"] == "TUMBLER-BLK-01" && m.json()["source"] == "manual"
        })
        .expect("the tablet pins a product");
    let forged = br#"{"sku":"FORGED","title":"free money"}"#.to_vec();
    operator.client.publish(config.topic("overlay"), QoS::AtLeastOnce, true, forged.clone()).unwrap();
    eventually("the forged overlay refused", WAIT, || denied() == 2.0);
    let watcher = Subscriber::connect_as(port, &config.topic("overlay"), tablet);
    let retained = watcher.wait_for(&config.topic("overlay"), WAIT, |m| m.retain).expect("the retained overlay");
    assert_ne!(retained.payload, forged, "the broker never saw the forged overlay");

    // A signed-in page gets an operator's login, valid only at this box's gate.
    let (status, head) = post_form(config.web_port, "/admin/login", &format!("token={TOKEN}"), None);
    assert_eq!(status, 303, "{head}");
    let cookie_line = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("a cookie");
    let cookie = cookie_line.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_owned();
    let (signed, text) = get_json(config.web_port, "/config.json", Some(&cookie));
    assert_eq!((signed["can_send"].as_bool(), signed["signed_in"].as_bool()), (Some(true), Some(true)), "{text}");
    let host = Subscriber::connect_as(port, "cuebox/gate/#", page_login(&signed));
    let pin = br#"{"sku":"BISCUIT-BOX-01"}"#.to_vec();
    host.client.publish(config.topic("cmd/product"), QoS::AtLeastOnce, false, pin).unwrap();
    host.wait_for(&config.topic("product"), WAIT, |m| {
        m.json()["sku"] == "BISCUIT-BOX-01" && m.json()["source"] == "manual"
    })
    .expect("a signed-in page pins a product");

    assert!(login_refused(port, Login::default()), "no login, no connection");
    let guessed = Login { username: Some(("page-0000000000000000".into(), "guess".into())), ..Login::default() };
    assert!(login_refused(port, guessed), "a made-up page login is refused");
    assert_eq!(denied(), 2.0, "no other client was cut off");
    daemon.stop();
}

#[test]
fn healthz_reports_the_mqtt_link_and_every_worker() {
    use crate::support::{Daemon, DaemonConfig, Mosquitto, eventually, http_get, short_clips};
    let mut broker = Mosquitto::start();
    let store = demo_store();
    let clips = short_clips(store.path());
    let mqtt = format!("url = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = DaemonConfig::write(store.path(), "health", &clips[..1], store.path(), &mqtt, "");
    let daemon = Daemon::start(&config.path);
    let healthz = || http_get(config.web_port, "/healthz");
    eventually("healthy with the broker connected", Duration::from_secs(60), || {
        let body = healthz();
        body.starts_with("ok\n") && body.contains("\nmqtt connected\n")
    });
    let body = healthz();
    for worker in ["corrections", "chat", "vision", "barcodes", "text"] {
        assert!(body.contains(&format!("\nworker {worker} running (0 restarts)\n")), "{body}");
        assert_eq!(config.metric(&format!("worker_restarts_total{{worker=\"{worker}\"}}")), 0.0);
    }
    assert_eq!(config.metric("mqtt_connected"), 1.0);

    broker.stop();
    eventually("the broker's loss in /healthz", Duration::from_secs(30), || {
        healthz().contains("\nmqtt disconnected for ")
    });
    let body = healthz();
    assert!(body.starts_with("ok\n"), "a broker away for less than 30 s is reported, not yet a failure: {body}");
    assert_eq!(config.metric("mqtt_connected"), 0.0);

    broker.restart();
    eventually("the broker back in /healthz", Duration::from_secs(30), || healthz().contains("\nmqtt connected\n"));
    daemon.stop();
}

/// A tmpfs of `megabytes` mounted at `path` (the tests run as root), unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, megabytes: u32) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { path: path.to_owned() }
    }

    /// Fills the disk but for `kib` KiB: room for sled to open, not for a new log segment.
    fn fill_leaving(&self, kib: u64) {
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        let path = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid C string and a statvfs to fill.
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stats) }, 0);
        let available = stats.f_bavail as u64 * stats.f_frsize as u64;
        let filler = vec![0u8; available.saturating_sub(kib * 1024) as usize];
        std::fs::write(self.path.join("filler"), filler).unwrap();
    }

    /// Writes a file until the disk refuses more.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The demo catalog with long cue cards (about 18 KB each), imported into a fresh store: a few
/// prompts then fill one of sled's 512 KiB log segments.
fn long_prompts_store(dir: &Path) -> std::path::PathBuf {
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(crate::support::asset("demo/images"))
        .arg(&catalog)
        .status()
        .unwrap();
    assert!(copied.success());
    let text = std::fs::read_to_string(crate::support::asset("demo/catalog.yaml")).unwrap();
    let padded = text.replace("！\"", &format!("！{}\"", "好".repeat(6000)));
    std::fs::write(catalog.join("catalog.yaml"), padded).unwrap();
    let store = dir.join("store");
    let out = run(cuebox().args(["catalog", "import"]).arg(catalog.join("catalog.yaml")).arg("--db").arg(&store));
    assert!(out.status.success(), "{}", stderr(&out));
    store
}

#[test]
fn a_full_disk_under_the_outbox_is_counted_and_the_daemon_runs_on() {
    use crate::support::{Daemon, DaemonConfig, Mosquitto, Subscriber, eventually, http_get, short_clips};
    use rumqttc::QoS;
    const WAIT: Duration = Duration::from_secs(60);
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let imported = long_prompts_store(dir.path());
    let disk = SmallDisk::mount(&dir.path().join("disk"), 8);
    let store = disk.path.join("store");
    let copied = std::process::Command::new("cp").arg("-r").arg(&imported).arg(&store).status().unwrap();
    assert!(copied.success());
    let clips = short_clips(dir.path());
    let mqtt = format!("url = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = DaemonConfig::write(dir.path(), "full-disk", &clips, &store, &mqtt, "[faq]\nsemantic = false\n");
    let live = Subscriber::connect(broker.port, &config.topic("#"));
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::start_logged(&config.path, &log);
    live.wait_for(&config.topic("prompt"), WAIT, |m| m.json()["sku"] == "BISCUIT-BOX-01")
        .expect("the product's first cue card through the outbox");

    // The disk full, then bursts of long prompts (the last cue card again, 40 at a time: the
    // command rate's burst): sled needs a new log segment and cannot have it. It may still find
    // room in segments freed by delivered prompts; then the broker is taken away, so that nothing
    // is delivered and removed, and the product switches of the clips fill the outbox.
    disk.fill();
    let failed = || config.metric("outbox_store_errors_total") > 0.0;
    let bursts_until = Instant::now() + Duration::from_secs(20);
    while !failed() && Instant::now() < bursts_until {
        for _ in 0..40 {
            live.client
                .publish(config.topic("cmd/cue"), QoS::AtMostOnce, false, br#"{"action":"repeat"}"#.to_vec())
                .unwrap();
        }
        // Pacing, so that the command rate lets the next burst through.
        std::thread::sleep(Duration::from_secs(2));
    }
    let delivering = failed();
    if delivering {
        assert!(http_get(config.web_port, "/healthz").contains("\nmqtt connected\n"));
        // A delivered prompt the store could not remove is not sent again and again: once the
        // last burst is through, the prompts stop.
        let _ = live.collect(Duration::from_secs(1));
        let prompts = live.collect(Duration::from_secs(3)).iter().filter(|m| m.topic == config.topic("prompt")).count();
        assert!(prompts <= 41, "{prompts} prompts after the last burst of 40 repeats");
    } else {
        broker.stop();
        eventually("a failed outbox write counted", Duration::from_secs(120), failed);
    }
    assert!(daemon.is_running(), "the daemon exited:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    assert!(text.contains("prompt could not be queued"), "{text}");
    drop(daemon);
}

#[test]
fn a_full_disk_during_an_import_fails_it_whole_and_keeps_the_catalog_before() {
    let dir = tempfile::tempdir().unwrap();
    let long_catalog = long_prompts_store(dir.path());
    let disk = SmallDisk::mount(&dir.path().join("disk"), 16);
    let store = disk.path.join("store");
    let demo = run(cuebox()
        .args(["catalog", "import"])
        .arg(crate::support::asset("demo/catalog.yaml"))
        .arg("--db")
        .arg(&store));
    assert!(demo.status.success(), "{}", stderr(&demo));
    let before = export(&store);

    // The long cue cards do not fit in what is left: sled opens the store, then runs out of room.
    disk.fill_leaving(256);
    let catalog = dir.path().join("catalog/catalog.yaml");
    let started = Instant::now();
    let out = run(cuebox().args(["catalog", "import"]).arg(&catalog).arg("--db").arg(&store));
    assert!(!out.status.success(), "an import onto a full disk cannot succeed: {}", stdout(&out));
    let said = stderr(&out);
    assert!(!said.contains("panicked"), "{said}");
    assert!(said.to_lowercase().contains("no space") || said.contains("store"), "a clear error: {said}");
    assert!(started.elapsed() < Duration::from_secs(120), "{:?}", started.elapsed());

    // With room again, the store holds the catalog of before, and takes the new one.
    std::fs::remove_file(disk.path.join("filler")).unwrap();
    assert_eq!(export(&store), before, "the failed import changed nothing");
    let again = run(cuebox().args(["catalog", "import"]).arg(&catalog).arg("--db").arg(&store));
    assert!(again.status.success(), "{}", stderr(&again));
    assert_ne!(export(&store), before);
    drop(long_catalog);
}

#[test]
fn catalog_structure_bombs_are_refused_quickly_and_change_nothing() {
    let store = demo_store();
    let db = store.path();
    let before = export(db);
    let dir = tempfile::tempdir().unwrap();
    let mut bombs: Vec<(&str, Vec<u8>, &str)> =
        vec![("brackets.yaml", vec![b'['; 10 * 1024 * 1024], "brackets.yaml:1:")];
    let mut keys = b"{".to_vec();
    for i in 0..4_000_000u32 {
        keys.extend_from_slice(format!("\"k{i}\":0,").as_bytes());
    }
    keys.extend_from_slice(b"\"end\":0}");
    bombs.push(("keys.json", keys, "above the limit"));
    let mut items = b"[".to_vec();
    items.extend(std::iter::repeat_n(&b"0,"[..], 30_000_000).flatten());
    items.extend_from_slice(b"0]");
    bombs.push(("items.json", items, "above the limit"));
    for (name, bytes, said) in bombs {
        let file = dir.path().join(name);
        std::fs::write(&file, &bytes).unwrap();
        let started = Instant::now();
        let out = run(cuebox().args(["catalog", "import", "--db"]).arg(db).arg(&file));
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(name) && stderr(&out).contains(said), "{name}: {}", stderr(&out));
        assert!(took < Duration::from_secs(10), "{name} took {took:?}");
    }
    assert_eq!(export(db), before, "nothing changed");
}
