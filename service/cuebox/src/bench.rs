//! `cuebox bench`: the pipeline measured on this machine (CONTRACT §7). The model and the
//! recognition step are timed in this process on the demo photos; startup, frame-to-MQTT latency
//! and memory are read off a real daemon (`cuebox run` on the demo clips with the demo catalog,
//! its own store, broker and web ports). With `--peer`, onnxruntime runs the same model on the
//! same input tensor in rounds interleaved with tract's, so both see the same machine load, and
//! the pipeline a studio engineer would write instead (bench/peer_pipeline.py: OpenCV,
//! onnxruntime on the whole frame, nearest neighbour, paho-mqtt) runs on the same clips while
//! the daemon does, publishing to the daemon's broker.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cuebox_vision::{Embedder, Finder, Gallery, INPUT_SIZE, RECOMMENDED_RULE, RgbImage, decode_image};
use serde_json::{Value, json};

use crate::assets;

/// tract runs one inference on one thread; the peer is given the same.
const THREADS: usize = 1;
/// Runs per interleaved round of tract and the peer.
const ROUND: usize = 10;

pub struct BenchOptions {
    pub seconds: u64,
    pub json: bool,
    pub peer: bool,
    pub config: Option<PathBuf>,
    pub model: Option<PathBuf>,
}

pub fn bench(options: &BenchOptions) -> anyhow::Result<()> {
    let model = assets::model_path(options.model.as_deref())?;
    let demo = assets::demo()?;
    let photos = demo_photos(&demo.catalog)?;
    let embedder = Embedder::load(&model)?;
    let budget = Duration::from_secs(options.seconds.max(1));

    let inference = time_inference(&embedder, &photos, budget / 3)?;
    let finder = crate::recognition::finder(embedder.clone());
    let (recognitions_per_s, recognition, text_read) = time_recognition(&finder, &photos, budget / 3)?;
    let daemon = measure_daemon(&demo.catalog, options, &model, budget / 3)?;
    let mut report = json!({
        "model": embedder.info().name,
        "threads": THREADS,
        "inference_ms": summary(&inference),
        "recognitions_per_s": round(recognitions_per_s),
        "recognition_ms": summary(&recognition),
        "text_read_ms": if text_read.is_empty() { Value::Null } else { summary(&text_read) },
        "glass_to_mqtt_ms": { "p50": daemon.glass_to_mqtt.0, "p99": daemon.glass_to_mqtt.1 },
        "rss_mb": round(daemon.rss_mb),
        "rss_peak_mb": round(daemon.rss_peak_mb),
        "startup_ms": round(daemon.startup_ms),
        "faq_ready_ms": round(daemon.faq_ready_ms),
        "model_load_ms": round(embedder.info().load_ms),
        "daemon": {
            "recognitions_per_s": round(daemon.recognitions_per_s),
            "recognitions_per_cpu_s": round(daemon.recognitions_per_cpu_s),
            "cores": round(daemon.cores),
            "text_reads_per_s": round(daemon.text_reads_per_s),
        },
    });
    if options.peer {
        let photo = photos.first().context("no demo photos")?;
        let peer = compare_with_onnxruntime(&embedder, &model, photo, budget / 3)?;
        if let Some(report) = report.as_object_mut() {
            report.insert("peer".into(), peer);
            report.insert("peer_pipeline".into(), daemon.peer_pipeline.unwrap_or(Value::Null));
        }
    }
    if options.json {
        println!("{report}");
    } else {
        print_report(&report);
    }
    Ok(())
}

fn demo_photos(catalog: &Path) -> anyhow::Result<Vec<RgbImage>> {
    let folder = catalog.parent().map(|p| p.join("images")).unwrap_or_default();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("demo photos folder {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg" || x == "png"))
        .collect();
    paths.sort();
    let photos = paths
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map_err(|e| e.to_string())
                .and_then(|b| decode_image(&b))
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if photos.is_empty() {
        bail!("no demo photos in {} (run `cargo xtask setup`)", folder.display());
    }
    Ok(photos)
}

/// Milliseconds per embedding (resampling included), for `budget` (at least 30 runs).
fn time_inference(embedder: &Embedder, photos: &[RgbImage], budget: Duration) -> anyhow::Result<Vec<f64>> {
    let started = Instant::now();
    let mut times = Vec::new();
    for photo in photos.iter().cycle() {
        if times.len() >= 30 && started.elapsed() >= budget {
            break;
        }
        let view = photo.view()?;
        let t = Instant::now();
        embedder.embed(view, view.center_square())?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(times)
}

/// Recognitions of a live frame as the daemon's vision thread makes them (search, embeddings,
/// local features against the demo photos enrolled as the daemon enrolls them) per second on one
/// thread and their times, and the times of one read of printed text around the product as the
/// daemon's text thread makes it (none without the OCR models).
fn time_recognition(
    finder: &Finder,
    photos: &[RgbImage],
    budget: Duration,
) -> anyhow::Result<(f64, Vec<f64>, Vec<f64>)> {
    let mut gallery = Gallery::default();
    for (index, photo) in photos.iter().enumerate() {
        let enrolled = finder.enroll(photo.view()?)?;
        let sku = format!("PHOTO-{index}");
        for reference in enrolled.embeddings {
            gallery.add(sku.clone(), reference);
        }
        if let Some(features) = enrolled.features {
            gallery.add_shape(sku, features);
        }
    }
    let started = Instant::now();
    let mut times = Vec::new();
    for photo in photos.iter().cycle() {
        if times.len() >= 20 && started.elapsed() >= budget {
            break;
        }
        let view = photo.view()?;
        let t = Instant::now();
        finder.find(view, &gallery, RECOMMENDED_RULE, None)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let per_second = times.len() as f64 / started.elapsed().as_secs_f64();
    let mut reads = Vec::new();
    if finder.text_reader().is_some() {
        let started = Instant::now();
        for photo in photos.iter().cycle() {
            if reads.len() >= 10 && started.elapsed() >= budget / 2 {
                break;
            }
            let view = photo.view()?;
            let t = Instant::now();
            finder.read_text(view, view.center_square())?;
            reads.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok((per_second, times, reads))
}

struct DaemonFigures {
    startup_ms: f64,
    /// From healthy to the FAQ index built with everything configured; measuring starts then.
    faq_ready_ms: f64,
    glass_to_mqtt: (Value, Value),
    rss_mb: f64,
    rss_peak_mb: f64,
    recognitions_per_s: f64,
    recognitions_per_cpu_s: f64,
    text_reads_per_s: f64,
    /// CPU seconds per second: 1.0 is one whole core.
    cores: f64,
    peer_pipeline: Option<Value>,
}

/// A real daemon on the demo: started, left to run for `run_for`, then read (and, with `--peer`,
/// the pipeline peer run beside it) and stopped.
fn measure_daemon(
    catalog: &Path,
    options: &BenchOptions,
    model: &Path,
    run_for: Duration,
) -> anyhow::Result<DaemonFigures> {
    let exe = std::env::current_exe().context("finding the cuebox executable")?;
    let store = tempfile_dir()?;
    let command = |args: &[&str]| {
        let mut c = Command::new(&exe);
        if let Some(config) = &options.config {
            c.arg("--config").arg(config);
        }
        c.args(args).env("CUEBOX_STORE_PATH", store.path()).env("RUST_LOG", "warn").stdin(Stdio::null());
        c
    };
    let import = command(&["catalog", "import"])
        .arg(catalog)
        .stdout(Stdio::null())
        .output()
        .context("importing the demo catalog")?;
    if !import.status.success() {
        bail!("importing the demo catalog failed: {}", String::from_utf8_lossy(&import.stderr).trim());
    }
    let (web, mqtt) = (free_port()?, free_port()?);
    let started = Instant::now();
    let mut daemon = command(&["run"])
        .env("CUEBOX_WEB_LISTEN", format!("127.0.0.1:{web}"))
        .env("CUEBOX_MQTT_EMBEDDED_LISTEN", format!("127.0.0.1:{mqtt}"))
        .env("CUEBOX_MQTT_EMBEDDED_WS_LISTEN", format!("127.0.0.1:{}", free_port()?))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the daemon")?;
    let result = (|| {
        let startup_ms = loop {
            if let Some(status) = daemon.try_wait()? {
                bail!("the daemon stopped during startup ({status})");
            }
            if http_get(web, "/healthz").is_ok_and(|(status, _)| status == 200) {
                break started.elapsed().as_secs_f64() * 1e3;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the daemon was not healthy within 60 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let healthy = Instant::now();
        while metric(&http_get(web, "/metrics")?.1, "faq_ready") != Some(1.0) {
            if healthy.elapsed() > Duration::from_secs(300) {
                bail!("the daemon's FAQ index was not ready within 300 s of healthy");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let faq_ready_ms = healthy.elapsed().as_secs_f64() * 1e3;
        let processed = |metrics: &str| metric(metrics, "frames_processed_total").unwrap_or(0.0);
        let reads = |metrics: &str| metric(metrics, "text_reads_total").unwrap_or(0.0);
        let before = http_get(web, "/metrics")?.1;
        let (window_started, cpu_before, processed_before, reads_before) =
            (Instant::now(), cpu_seconds(daemon.id())?, processed(&before), reads(&before));
        std::thread::sleep(run_for.max(Duration::from_secs(3)));
        let (_, metrics) = http_get(web, "/metrics")?;
        let wall = window_started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(daemon.id())? - cpu_before;
        let recognized = processed(&metrics) - processed_before;
        let gauge = |name: &str| metric(&metrics, name).map_or(Value::Null, |v| json!(round(v)));
        let (rss_mb, rss_peak_mb) = memory(daemon.id())?;
        let peer_pipeline = if options.peer {
            Some(run_pipeline_peer(model, catalog, mqtt, run_for.max(Duration::from_secs(3)))?)
        } else {
            None
        };
        Ok(DaemonFigures {
            startup_ms,
            faq_ready_ms,
            glass_to_mqtt: (gauge("glass_to_mqtt_ms_p50"), gauge("glass_to_mqtt_ms_p99")),
            rss_mb,
            rss_peak_mb,
            recognitions_per_s: recognized / wall,
            recognitions_per_cpu_s: if cpu > 0.0 { recognized / cpu } else { 0.0 },
            text_reads_per_s: (reads(&metrics) - reads_before) / wall,
            cores: cpu / wall,
            peer_pipeline,
        })
    })();
    stop(&mut daemon);
    result
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(&format!("cuebox_{name} "))).and_then(|v| v.trim().parse().ok())
}

/// User and system CPU time of a process so far, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading the daemon's CPU time")?;
    // The fields after the command name (which may hold spaces) are counted from its closing ')'.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |index: usize| fields.get(index).and_then(|v| v.parse::<f64>().ok()).context("malformed /proc stat");
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11)? + ticks(12)?) / per_second)
}

/// bench/peer_pipeline.py on the demo clips and photos, publishing to the daemon's broker.
fn run_pipeline_peer(model: &Path, catalog: &Path, mqtt: u16, run_for: Duration) -> anyhow::Result<Value> {
    let script = assets::find("bench/peer_pipeline.py")
        .context("the pipeline peer needs a source checkout (bench/peer_pipeline.py)")?;
    let python = project_python(&script)?;
    let demo = catalog.parent().context("the demo folder")?;
    let mut clips: Vec<PathBuf> = std::fs::read_dir(demo.join("clips"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    clips.sort();
    let out = Command::new(python)
        .arg(&script)
        .arg(model)
        .arg(demo.join("images"))
        .arg(mqtt.to_string())
        .arg("bench/peer")
        .arg(run_for.as_secs_f64().to_string())
        .args(&clips)
        .stderr(Stdio::inherit())
        .output()
        .context("running the pipeline peer")?;
    if !out.status.success() {
        bail!("the pipeline peer failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).context("the pipeline peer's report")
}

/// The project's Python environment (`.venv` beside bench/, from `cargo xtask setup`).
fn project_python(script: &Path) -> anyhow::Result<PathBuf> {
    script
        .parent()
        .and_then(Path::parent)
        .map(|root| root.join(".venv/bin/python"))
        .filter(|p| p.exists())
        .context("the peers need the project's Python environment (.venv, from `cargo xtask setup`)")
}

fn tempfile_dir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(format!("cuebox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(TempDir(path))
}

/// A scratch folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stop(child: &mut Child) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Status and body of a plain HTTP/1.0 GET on loopback.
fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status")?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Resident and peak resident memory of a process, in MiB.
fn memory(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading the daemon's memory")?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The onnxruntime peer (bench/peer_onnxruntime.py in the project's Python environment).
struct Peer {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Peer {
    fn start(model: &Path, tensor: &Path) -> anyhow::Result<(Self, Value)> {
        let script = assets::find("bench/peer_onnxruntime.py")
            .context("the peer needs a source checkout (bench/peer_onnxruntime.py)")?;
        let python = project_python(&script)?;
        let mut child = Command::new(python)
            .arg(&script)
            .arg(model)
            .arg(tensor)
            .arg(THREADS.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the onnxruntime peer")?;
        let input = child.stdin.take().context("peer stdin")?;
        let output = BufReader::new(child.stdout.take().context("peer stdout")?);
        let mut peer = Self { child, input, output };
        let hello = peer.line()?;
        Ok((peer, hello))
    }

    fn line(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        if self.output.read_line(&mut line)? == 0 {
            bail!("the onnxruntime peer stopped");
        }
        serde_json::from_str(&line).with_context(|| format!("the peer said {line:?}"))
    }

    fn run(&mut self, times: usize) -> anyhow::Result<Vec<f64>> {
        writeln!(self.input, "{times}")?;
        self.input.flush()?;
        let reply = self.line()?;
        reply
            .get("ms")
            .and_then(Value::as_array)
            .context("the peer's reply has no times")?
            .iter()
            .map(|v| v.as_f64().context("not a time"))
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tract and onnxruntime on the same input tensor, in alternating rounds.
fn compare_with_onnxruntime(
    embedder: &Embedder,
    model: &Path,
    photo: &RgbImage,
    budget: Duration,
) -> anyhow::Result<Value> {
    let view = photo.view()?;
    let crop = view.center_square();
    let mut tensor = vec![0f32; 3 * INPUT_SIZE * INPUT_SIZE];
    view.resample_normalized(crop, INPUT_SIZE, 127.0, 128.0, &mut tensor)?;
    let scratch = tempfile_dir()?;
    let tensor_file = scratch.path().join("input.f32");
    std::fs::write(&tensor_file, tensor.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
    let (mut peer, hello) = Peer::start(model, &tensor_file)?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while ours.len() < 5 * ROUND || started.elapsed() < budget {
        for _ in 0..ROUND {
            let t = Instant::now();
            embedder.infer(view, crop)?;
            ours.push(t.elapsed().as_secs_f64() * 1e3);
        }
        theirs.extend(peer.run(ROUND)?);
    }
    let ratio = median(&ours) / median(&theirs);
    Ok(json!({
        "runtime": format!("onnxruntime {}", hello.get("onnxruntime").and_then(Value::as_str).unwrap_or("?")),
        "note": "both heads (embedding and logits), one thread each; tract's times include resampling the crop to the input tensor, onnxruntime's start from that tensor",
        "tract_ms": summary(&ours),
        "onnxruntime_ms": summary(&theirs),
        "tract_over_onnxruntime_p50": round(ratio),
        "onnxruntime_rss_mb": hello.get("rss_mb"),
    }))
}

fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0)
}

fn summary(values: &[f64]) -> Value {
    json!({ "p50": round(quantile(values, 0.5)), "p99": round(quantile(values, 0.99)), "runs": values.len() })
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The value at a JSON pointer, null where there is none (as indexing a `Value` gives).
fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

fn print_report(report: &Value) {
    let ms = |v: &Value| format!("p50 {} ms, p99 {} ms", v["p50"], v["p99"]);
    println!("model               {} ({} thread)", report["model"].as_str().unwrap_or(""), report["threads"]);
    println!("model load          {} ms", report["model_load_ms"]);
    println!("inference           {} ({} runs)", ms(&report["inference_ms"]), at(report, "/inference_ms/runs"));
    println!(
        "recognition         {} per second on one thread ({})",
        report["recognitions_per_s"],
        ms(&report["recognition_ms"])
    );
    if !report["text_read_ms"].is_null() {
        println!(
            "text read           {} per read around the product ({} runs); the daemon read {} times a second",
            ms(&report["text_read_ms"]),
            at(report, "/text_read_ms/runs"),
            at(report, "/daemon/text_reads_per_s")
        );
    }
    println!("frame to MQTT       {}", ms(&report["glass_to_mqtt_ms"]));
    println!("daemon memory       {} MiB resident, {} MiB at most", report["rss_mb"], report["rss_peak_mb"]);
    println!("daemon startup      {} ms to healthy", report["startup_ms"]);
    println!("daemon FAQ index    ready {} ms after healthy (measuring starts then)", report["faq_ready_ms"]);
    let daemon = &report["daemon"];
    println!(
        "daemon CPU          {} cores for {} recognitions a second ({} per CPU-second, capture and decoding included)",
        daemon["cores"], daemon["recognitions_per_s"], daemon["recognitions_per_cpu_s"]
    );
    if let Some(pipeline) = report.get("peer_pipeline").filter(|p| !p.is_null()) {
        println!(
            "pipeline peer       OpenCV + onnxruntime (whole frame) + paho: {} recognitions a second, {} per CPU-second, frame p50 {} ms p99 {} ms, {} MiB",
            pipeline["recognitions_per_s"],
            pipeline["recognitions_per_cpu_s"],
            at(pipeline, "/frame_ms/p50"),
            at(pipeline, "/frame_ms/p99"),
            pipeline["rss_mb"]
        );
    }
    if let Some(peer) = report.get("peer") {
        println!(
            "peer                {}: {}; tract {}; tract/onnxruntime at p50 = {}",
            peer["runtime"].as_str().unwrap_or(""),
            ms(&peer["onnxruntime_ms"]),
            ms(&peer["tract_ms"]),
            peer["tract_over_onnxruntime_p50"]
        );
    }
}
