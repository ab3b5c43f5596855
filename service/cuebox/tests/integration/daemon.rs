use std::time::{Duration, Instant};

use crate::support::{Daemon, Mosquitto, Subscriber, asset, cuebox, run, stderr};

const BOX: &str = "BISCUIT-BOX-01";
const CUP: &str = "TUMBLER-BLK-01";

/// The daemon on each demo clip (footage recorded after the enrollment photos) through
/// GStreamer, tract and sled, publishing to a real mosquitto.
#[test]
fn the_daemon_names_the_product_of_each_clip_on_mqtt() {
    let broker = Mosquitto::start();
    let store = tempfile::tempdir().unwrap();
    let import =
        run(cuebox().args(["catalog", "import"]).arg(asset("demo/catalog.yaml")).arg("--db").arg(store.path()));
    assert!(import.status.success(), "{}", stderr(&import));

    for (clip, expected, other, pass) in [("demo/clips/1-box.mp4", BOX, CUP, 12), ("demo/clips/2-cup.mp4", CUP, BOX, 6)]
    {
        let device = format!("it-{}", expected.to_lowercase());
        let config = store.path().join(format!("{device}.toml"));
        std::fs::write(
            &config,
            format!(
                "[device]\nid = \"{device}\"\n[capture]\nsource = \"file://{}\"\n[store]\npath = \"{}\"\n\
                 [mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\n[web]\nlisten = \"127.0.0.1:0\"\n",
                asset(clip).display(),
                store.path().display(),
                broker.port
            ),
        )
        .unwrap();
        let topic = |t: &str| format!("cuebox/{device}/{t}");
        let live = Subscriber::connect(broker.port, &format!("cuebox/{device}/#"));
        let started = Instant::now();
        let daemon = Daemon::start(&config);

        let product = live
            .wait_for(&topic("product"), Duration::from_secs(60), |m| m.json()["sku"] == expected)
            .unwrap_or_else(|| panic!("no product message naming {expected} for {clip}"));
        eprintln!("{clip}: process start to first product message: {} ms", started.elapsed().as_millis());
        let product = product.json();
        assert_eq!(product["source"], "vision");
        assert!(product["confidence"].as_f64().unwrap() > 0.0);
        assert!(product["name"].as_str().is_some_and(|n| !n.is_empty()));

        let prompt = live
            .wait_for(&topic("prompt"), Duration::from_secs(10), |m| m.json()["sku"] == expected)
            .unwrap_or_else(|| panic!("no prompt for {expected}"))
            .json();
        assert_eq!(prompt["kind"], "intro");
        assert!(prompt["text"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(prompt["id"].as_str().is_some_and(|id| !id.is_empty()));

        let rest = live.collect(Duration::from_secs(pass));
        let wrong: Vec<_> = rest.iter().filter(|m| m.topic == topic("product") && m.json()["sku"] == other).collect();
        assert!(wrong.is_empty(), "{clip} was taken for {other}: {wrong:?}");
        daemon.stop();

        let late = Subscriber::connect(broker.port, &format!("cuebox/{device}/#"));
        let retained: std::collections::HashMap<String, crate::support::Message> = late
            .collect(Duration::from_secs(2))
            .into_iter()
            .filter(|m| m.retain)
            .map(|m| (m.topic.clone(), m))
            .collect();
        let get = |t: &str| retained.get(&topic(t)).unwrap_or_else(|| panic!("no retained {t}: {:?}", retained.keys()));
        assert_eq!(get("product").json()["sku"], expected, "retained product after {clip}");
        assert_eq!(get("overlay").json()["sku"], expected);
        assert_eq!(get("cue").json()["sku"], expected);
        assert_eq!(get("availability").payload, b"offline", "a stopped daemon says it is offline");
    }
}
