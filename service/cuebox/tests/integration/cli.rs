use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{asset, cuebox, data, demo_store, run, stderr, stdout};

fn import(db: &Path, file: &Path) -> std::process::Output {
    run(cuebox().args(["catalog", "import"]).arg(file).arg("--db").arg(db))
}

fn export(db: &Path) -> String {
    let out = run(cuebox().args(["catalog", "export", "--db"]).arg(db));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// Photos enrolled for `sku` (each gives several references).
fn photos(db: &Path, sku: &str) -> u64 {
    let out = run(cuebox().args(["catalog", "list", "--json", "--db"]).arg(db));
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().iter().find(|p| p["sku"] == sku).map(|p| p["photos"].as_u64().unwrap()).unwrap_or(0)
}

#[test]
fn check_config_reports_every_problem_with_key_and_line() {
    let out = run(cuebox().arg("check-config").arg("--config").arg(data("bad-config.toml")));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for expected in [
        "bad-config.toml:2: device.id:",
        "bad-config.toml:5: capture.source:",
        "bad-config.toml:6: capture.width: must be between 16 and 7680 (got 0)",
        "bad-config.toml:7: capture.fps: invalid type",
        "bad-config.toml:8: capture.colour: unknown key",
        "bad-config.toml:11: mqtt.url:",
        "bad-config.toml:13: speakers: unknown section",
    ] {
        assert!(
            err.lines().any(|l| l.starts_with("error: ") && l.contains(expected)),
            "missing {expected:?} in:\n{err}"
        );
    }
    assert_eq!(err.lines().count(), 7, "one line per problem:\n{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"));
}

#[test]
fn check_config_accepts_a_valid_file_and_names_bad_environment_overrides() {
    let out = run(cuebox().arg("check-config").arg("--config").arg(data("good-config.toml")));
    assert!(out.status.success(), "{}", stderr(&out));
    let out =
        run(cuebox().arg("check-config").arg("--config").arg(data("good-config.toml")).env("CUEBOX_CAPTURE_FPS", "0"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("CUEBOX_CAPTURE_FPS: capture.fps: must be between 1 and 240"), "{}", stderr(&out));
}

#[test]
fn a_catalog_with_errors_reports_each_with_its_place_and_changes_nothing() {
    let db = demo_store();
    let before = export(db.path());
    let out = import(db.path(), &data("bad-catalog.yaml"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for expected in [
        "bad-catalog.yaml:6:39: products[0].price.currency: \"RMB\" is not an ISO 4217 code like CNY or USD (renminbi is CNY)",
        "bad-catalog.yaml:7:10: products[1].sku: \"TEA 002\" must match",
        "bad-catalog.yaml:11:15: products[1].script[0].text: expected at least one text",
        "bad-catalog.yaml:12:5: products[2].sku: duplicate sku \"TEA-001\"",
        "bad-catalog.yaml:14:16: products[2].barcodes[0]: 6901234567890 has a wrong check digit",
    ] {
        assert!(
            err.lines().any(|l| l.starts_with("error: ") && l.contains(expected)),
            "missing {expected:?} in:\n{err}"
        );
    }
    assert_eq!(export(db.path()), before, "the store is unchanged");

    let out = import(db.path(), &data("bad-syntax.json"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: ") && stderr(&out).contains("bad-syntax.json:5:5: not valid YAML or JSON"),
        "{}",
        stderr(&out)
    );
    assert_eq!(export(db.path()), before);
}

#[test]
fn a_catalog_naming_missing_or_broken_photos_changes_nothing() {
    let db = demo_store();
    let before = export(db.path());
    let out = import(db.path(), &data("bad-photos.yaml"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad-photos.yaml:5:14: products[sku=MUG-1].images: missing.jpg: No such file"), "{err}");
    assert!(
        err.contains("bad-photos.yaml:8:14: products[sku=MUG-2].images: not-an-image.jpg: not a JPEG or PNG image"),
        "{err}"
    );
    assert_eq!(export(db.path()), before);
}

#[test]
fn importing_the_same_catalog_twice_is_a_no_op_and_export_round_trips() {
    let db = demo_store();
    let again = import(db.path(), &asset("demo/catalog.yaml"));
    assert!(again.status.success());
    assert!(stdout(&again).contains("unchanged"), "{}", stdout(&again));

    // An exported file names its photos by absolute path: it imports again from the folder that
    // holds them (photos outside the catalog's folder are refused).
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(asset("demo/catalog.yaml"), copy.path().join("catalog.yaml")).unwrap();
    std::fs::create_dir(copy.path().join("images")).unwrap();
    for photo in std::fs::read_dir(asset("demo/images")).unwrap() {
        let photo = photo.unwrap().path();
        std::fs::copy(&photo, copy.path().join("images").join(photo.file_name().unwrap())).unwrap();
    }
    let copied = tempfile::tempdir().unwrap();
    let out = import(copied.path(), &copy.path().join("catalog.yaml"));
    assert!(out.status.success(), "{}", stderr(&out));
    let exported = export(copied.path());
    let file = copy.path().join("exported.yaml");
    std::fs::write(&file, &exported).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let out = import(fresh.path(), &file);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(export(fresh.path()), exported);
    assert_eq!(photos(fresh.path(), "BISCUIT-BOX-01"), 3);

    let list = run(cuebox().args(["catalog", "list", "--db"]).arg(db.path()));
    let text = stdout(&list);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("BISCUIT-BOX-01\t坎普罗东黄油曲奇礼盒 500g\t¥89.00"), "{text}");
}

#[test]
fn importing_the_same_catalog_under_another_model_enrolls_its_photos_again() {
    let db = demo_store();
    // The shipped model with an unknown protobuf field appended: the same network, another file.
    let models = tempfile::tempdir().unwrap();
    let other_model = models.path().join("other.onnx");
    let mut bytes = std::fs::read(asset("models/efficientnet-lite0.onnx")).unwrap();
    bytes.extend([0xC0, 0x3E, 0x01]);
    std::fs::write(&other_model, bytes).unwrap();
    let photo = asset("demo/images/box-1.jpg");
    let recognized = || {
        let out = run(cuebox()
            .args(["recognize", "--json", "--db"])
            .arg(db.path())
            .arg(&photo)
            .env("CUEBOX_VISION_MODEL", &other_model));
        assert!(out.status.success(), "{}", stderr(&out));
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        result["sku"].clone()
    };
    assert_eq!(recognized(), serde_json::Value::Null, "references of another model are not compared");

    let import_under_other_model = || {
        run(cuebox()
            .args(["catalog", "import"])
            .arg(asset("demo/catalog.yaml"))
            .arg("--db")
            .arg(db.path())
            .env("CUEBOX_VISION_MODEL", &other_model))
    };
    let again = import_under_other_model();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).contains("imported"), "{}", stdout(&again));
    assert_eq!(recognized(), "BISCUIT-BOX-01");
    let once_more = import_under_other_model();
    assert!(stdout(&once_more).contains("unchanged"), "{}", stdout(&once_more));
}

#[test]
fn a_progress_bar_follows_the_photos_on_a_terminal_and_only_there() {
    let piped = tempfile::tempdir().unwrap();
    let out = import(piped.path(), &asset("demo/catalog.yaml"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("enrolling photos"), "no bar into a pipe: {}", stderr(&out));

    // util-linux's `script` runs the import on a pseudo-terminal and copies what it draws.
    let on_terminal = tempfile::tempdir().unwrap();
    let import = format!(
        "{} catalog import {} --db {}",
        env!("CARGO_BIN_EXE_cuebox"),
        asset("demo/catalog.yaml").display(),
        on_terminal.path().display()
    );
    let out = run(Command::new("script").args(["-qec", &import, "/dev/null"]).env_remove("RUST_LOG"));
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    for step in ["0/6", "3/6", "6/6"] {
        assert!(shown.contains(&format!("] {step}")), "{step} missing from {shown:?}");
    }
    assert!(shown.contains("imported 2 products with 6 reference photos"), "{shown:?}");
}

#[test]
fn an_import_killed_at_any_moment_leaves_the_old_catalog_or_the_new_one() {
    // Catalog B: the demo catalog with another price and name, beside copies of its photos.
    let other = tempfile::tempdir().unwrap();
    let demo = std::fs::read_to_string(asset("demo/catalog.yaml")).unwrap();
    let changed = demo.replace("amount: 89.00", "amount: 79.00").replace("曲奇礼盒 500g", "曲奇礼盒 400g");
    assert_ne!(changed, demo);
    std::fs::create_dir(other.path().join("images")).unwrap();
    for entry in std::fs::read_dir(asset("demo/images")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), other.path().join("images").join(entry.file_name())).unwrap();
    }
    let catalogs = [asset("demo/catalog.yaml"), other.path().join("catalog.yaml")];
    std::fs::write(&catalogs[1], changed).unwrap();

    let fresh = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    assert!(import(fresh.path(), &catalogs[1]).status.success());
    let full_import = started.elapsed();
    let exports = [export(demo_store().path()), export(fresh.path())];
    assert_ne!(exports[0], exports[1]);

    let db = demo_store();
    let mut current = 0;
    let (mut killed_before_the_switch, mut finished) = (0, 0);
    const KILLS: u32 = 24;
    for attempt in 0..KILLS {
        // Kill points spread over the whole import and as long again, in a scrambled order.
        let at = full_import.mul_f64(2.0 * f64::from((attempt * 7) % KILLS) / f64::from(KILLS));
        let next = 1 - current;
        let mut child = cuebox()
            .args(["catalog", "import"])
            .arg(&catalogs[next])
            .arg("--db")
            .arg(db.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let now = export(db.path());
        let found = exports.iter().position(|e| *e == now);
        assert!(found.is_some(), "after a kill {at:?} into an import the store holds neither catalog:\n{now}");
        assert_eq!(photos(db.path(), "BISCUIT-BOX-01"), 3, "the references follow the catalog");
        match found {
            Some(index) if index == next => finished += 1,
            _ if !status.success() => killed_before_the_switch += 1,
            _ => panic!("an import that exited {status} left the old catalog"),
        }
        current = found.unwrap_or(current);
    }
    eprintln!(
        "{KILLS} imports killed at points over {full_import:?}: {killed_before_the_switch} left the old catalog, {finished} the new one"
    );
    assert!(killed_before_the_switch > 0 && finished > 0, "the kills covered the import from its start to its end");
}

/// Frames of the demo footage (recorded after the enrollment photos), decoded by GStreamer.
fn frames(clip: &str, dir: &Path) -> Vec<PathBuf> {
    let pattern = dir.join(format!("{}-%04d.jpg", clip.replace('/', "_")));
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", asset(clip).display()))
        .args([
            "!",
            "decodebin",
            "!",
            "videoconvert",
            "!",
            "videorate",
            "!",
            "video/x-raw,framerate=2/1",
            "!",
            "jpegenc",
            "!",
            "multifilesink",
        ])
        .arg(format!("location={}", pattern.display()))
        .status()
        .unwrap();
    assert!(status.success());
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&clip.replace('/', "_")))
        .collect();
    out.sort();
    out
}

#[test]
fn recognize_names_the_product_in_frames_of_the_test_footage() {
    let db = demo_store();
    let dir = tempfile::tempdir().unwrap();
    for (clip, expected) in [("demo/clips/1-box.mp4", "BISCUIT-BOX-01"), ("demo/clips/2-cup.mp4", "TUMBLER-BLK-01")] {
        let images = frames(clip, dir.path());
        assert!(images.len() >= 10, "{} frames", images.len());
        let out = run(cuebox().args(["recognize", "--json", "--db"]).arg(db.path()).args(&images));
        assert!(out.status.success(), "{}", stderr(&out));
        let results: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(results.len(), images.len());
        let right = results.iter().filter(|r| r["sku"] == expected).count();
        let wrong: Vec<_> = results.iter().filter(|r| r["sku"].is_string() && r["sku"] != expected).collect();
        eprintln!("{clip}: {right}/{} frames recognized as {expected}", results.len());
        assert!(wrong.is_empty(), "frames taken for another product: {wrong:?}");
        assert!(right * 10 >= results.len() * 9, "{right} of {} frames recognized", results.len());
        let first = &results[0];
        assert!(first["image"].as_str().unwrap().ends_with(".jpg"));
        assert!(first["candidates"].as_array().unwrap().len() == 2);
    }
}

#[test]
fn recognize_says_no_product_for_scenes_without_one_and_rejects_non_images() {
    let db = demo_store();
    let scenes: Vec<PathBuf> = ["building.jpg", "home.jpg", "aero1.jpg"]
        .iter()
        .map(|n| Path::new("/usr/share/doc/opencv-doc/examples/data").join(n))
        .collect();
    let out = run(cuebox().args(["recognize", "--json", "--db"]).arg(db.path()).args(&scenes));
    assert!(out.status.success(), "{}", stderr(&out));
    for line in stdout(&out).lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(r["sku"].is_null(), "{r}");
    }
    let out = run(cuebox().args(["recognize", "--db"]).arg(db.path()).arg(data("not-an-image.jpg")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not-an-image.jpg: not a JPEG or PNG image"), "{}", stderr(&out));
}

#[test]
fn enroll_adds_photos_and_refuses_unknown_products_and_bad_images() {
    let db = demo_store();
    let out = run(cuebox()
        .args(["enroll", "--sku", "BISCUIT-BOX-01", "--db"])
        .arg(db.path())
        .arg(asset("demo/images/box-1.jpg")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(photos(db.path(), "BISCUIT-BOX-01"), 4);

    let out =
        run(cuebox().args(["enroll", "--sku", "NOPE-1", "--db"]).arg(db.path()).arg(asset("demo/images/box-1.jpg")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("NOPE-1"), "{}", stderr(&out));

    let out = run(cuebox()
        .args(["enroll", "--sku", "BISCUIT-BOX-01", "--db"])
        .arg(db.path())
        .arg(asset("demo/images/box-2.jpg"))
        .arg(data("not-an-image.jpg")));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(photos(db.path(), "BISCUIT-BOX-01"), 4, "one bad photo enrolls none");

    let out = run(cuebox()
        .args(["enroll", "--replace", "--sku", "BISCUIT-BOX-01", "--db"])
        .arg(db.path())
        .arg(asset("demo/images/box-2.jpg")));
    assert!(out.status.success());
    assert_eq!(photos(db.path(), "BISCUIT-BOX-01"), 1);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(cuebox().arg("no-such-command")).status.code(), Some(2));
    assert_eq!(run(cuebox().args(["recognize"])).status.code(), Some(2));
    assert_eq!(run(cuebox().arg("--help")).status.code(), Some(0));
}

/// `cuebox bench --json` (CONTRACT §7): every figure measured, none made up; with `--peer`, the
/// same model in onnxruntime beside tract.
#[test]
fn bench_measures_the_model_recognition_and_a_real_daemon() {
    let out = run(cuebox().args(["bench", "--json", "--seconds", "6", "--peer"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    eprintln!("bench: {report}");
    assert_eq!(report["model"], "efficientnet-lite0");
    assert_eq!(report["threads"], 1);
    let positive = |v: &serde_json::Value| v.as_f64().is_some_and(|x| x > 0.0);
    for path in [
        "/inference_ms/p50",
        "/inference_ms/p99",
        "/recognitions_per_s",
        "/glass_to_mqtt_ms/p50",
        "/glass_to_mqtt_ms/p99",
        "/rss_mb",
        "/startup_ms",
        "/faq_ready_ms",
        "/peer/onnxruntime_ms/p50",
        "/peer/tract_over_onnxruntime_p50",
        "/daemon/recognitions_per_s",
        "/daemon/recognitions_per_cpu_s",
        "/daemon/cores",
        "/peer_pipeline/recognitions_per_s",
        "/peer_pipeline/recognitions_per_cpu_s",
    ] {
        assert!(positive(report.pointer(path).unwrap_or(&serde_json::Value::Null)), "{path} in {report}");
    }
    let p50 = report["inference_ms"]["p50"].as_f64().unwrap();
    assert!(report["inference_ms"]["p99"].as_f64().unwrap() >= p50);
    assert!(report["rss_mb"].as_f64().unwrap() > 50.0, "a daemon holding the models is not tiny: {report}");
}
