//! The daemon: starts every part, supervises them, and shuts them down in order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use cuebox_capture::{Capture, CaptureConfig, CaptureStats, FrameSlot};
use cuebox_vision::Embedder;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::assets;
use crate::config::{BrokerSettings, Loaded};
use crate::engine::{Engine, now_ms};
use crate::metrics::Metrics;
use crate::mqtt::{self, LinkConfig, Outbox, Topic};
use crate::recognition::{Recognizer, SharedPreview, Worker, WorkerSetup};
use crate::web::{self, AdminState, AdminToken, WebState};

const METRICS_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Run,
    Demo { duration: Option<Duration> },
}

pub async fn run(loaded: Loaded, mode: Mode) -> anyhow::Result<()> {
    let started = Instant::now();
    let stop_signals = StopSignals::install()?;
    let settings = loaded.settings;
    let device = settings.device_id.clone().unwrap_or_else(assets::default_device_id);
    let prefix = settings.mqtt.topic_prefix.clone().unwrap_or_else(|| format!("cuebox/{device}"));
    let demo = match mode {
        Mode::Demo { .. } => Some(assets::demo()?),
        Mode::Run if settings.capture.sources.is_none() => Some(assets::demo()?),
        Mode::Run => None,
    };

    let model = assets::model_path(settings.vision.model.as_deref())?;
    let store_path = settings.store_path.clone();
    let (store, embedder) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let embedder = Embedder::load(&model)?;
        let store = crate::commands::open_store(&store_path)?;
        Ok((store, embedder))
    })
    .await??;
    tracing::info!(model = %embedder.info().name, load_ms = embedder.info().load_ms as u64, "model loaded");
    let store = Arc::new(store);
    if let (Mode::Demo { .. }, Some(demo)) = (mode, &demo) {
        let (store, embedder, catalog) = (store.clone(), embedder.clone(), demo.catalog.clone());
        let report = tokio::task::spawn_blocking(move || crate::commands::import_file(&store, &catalog, &crate::commands::Model::loaded(embedder))).await??;
        tracing::info!(%report, "demo catalog");
    }
    let header = store.header()?.context("no catalog imported yet: run `cuebox catalog import FILE` first")?;
    let recognizer = Arc::new(Recognizer::new(embedder.clone(), &store, settings.vision.rule)?);
    if recognizer.gallery.current().is_empty() {
        tracing::warn!("no product has reference photos: nothing can be recognized until some are enrolled");
    }

    if let BrokerSettings::Embedded { listen, ws_listen, users_file } = &settings.mqtt.broker {
        let users = users_file.as_deref().map(crate::broker::read_users).transpose()?;
        if let (Some(users), Some(own)) = (&users, &settings.mqtt.username)
            && !users.contains_key(own)
        {
            anyhow::bail!("mqtt.embedded_users_file has no line for mqtt.username {own:?}");
        }
        crate::broker::start(*listen, *ws_listen, users.as_ref())?;
    }
    let (admin_token, demo_token) = match (&settings.web.admin_token_file, mode) {
        (Some(file), _) => (Some(AdminToken::from_file(file)?), None),
        (None, Mode::Demo { .. }) => {
            let token = random_token()?;
            (Some(AdminToken::new(&token)), Some(token))
        }
        (None, Mode::Run) => {
            tracing::info!("web.admin_token_file is not set: the admin pages refuse everyone");
            (None, None)
        }
    };
    let web_listener = tokio::net::TcpListener::bind(settings.web.listen)
        .await
        .with_context(|| format!("web.listen: cannot listen on {}", settings.web.listen))?;

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let metrics = Arc::new(Metrics::new());
    let (outbox, outbox_rx) = Outbox::channel(256, metrics.clone());
    let (engine_tx, mut engine_rx) = mpsc::channel(64);
    mqtt::start(
        LinkConfig {
            settings: settings.mqtt.clone(),
            device: device.clone(),
            prefix: prefix.clone(),
            client_id: settings.mqtt.client_id.clone().unwrap_or_else(|| format!("cuebox-{device}")),
            queue: store.auxiliary_tree("mqtt-outbox")?,
        },
        outbox_rx,
        engine_tx.clone(),
        metrics.clone(),
        cancel.clone(),
        &tasks,
    )?;

    let locale = settings.locale.clone().unwrap_or_else(|| header.default_locale.clone());
    let mut engine = Engine::new(store.clone(), store.products()?, header.default_locale.clone(), Some(locale.clone()), outbox.clone(), metrics.clone());
    engine.start();
    tasks.spawn({
        let cancel = cancel.clone();
        async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    input = engine_rx.recv() => match input {
                        Some(input) => engine.handle(input),
                        None => break,
                    },
                }
            }
        }
    });

    let slot = Arc::new(FrameSlot::new());
    let capture_stats = Arc::new(CaptureStats::default());
    let sources = match (&settings.capture.sources, &demo) {
        (Some(s), _) => s.clone(),
        (None, Some(d)) => d.clips.clone(),
        (None, None) => anyhow::bail!("capture.source is not set"),
    };
    let capture = Capture::start(
        CaptureConfig {
            sources: sources.clone(),
            width: settings.capture.width,
            height: settings.capture.height,
            fps: settings.capture.fps,
            stall_timeout: settings.capture.stall_timeout,
            ..CaptureConfig::default()
        },
        slot.clone(),
        capture_stats.clone(),
    )?;
    let preview = SharedPreview::default();
    let worker = Worker::spawn(WorkerSetup {
        recognizer: recognizer.clone(),
        slot: slot.clone(),
        tracker: settings.vision.tracker,
        interval: settings.vision.interval,
        events: engine_tx.clone(),
        metrics: metrics.clone(),
        preview: preview.clone(),
    })?;

    tasks.spawn(publish_metrics(outbox.clone(), metrics.clone(), capture_stats.clone(), slot.clone(), cancel.clone()));
    let ws_url = settings.web.mqtt_ws_url.clone();
    let ws_port = match settings.mqtt.broker {
        BrokerSettings::Embedded { ws_listen, .. } => Some(ws_listen.port()),
        BrokerSettings::External { .. } => None,
    };
    let (username, password) = match &settings.web.mqtt_login {
        Some((user, file)) => (Some(user.clone()), file.as_deref().map(crate::mqtt::read_secret).transpose().context("web.mqtt_password_file")?),
        None => (None, None),
    };
    let page_config = json!({
        "device": device, "prefix": prefix, "locale": locale, "ws_url": ws_url, "ws_port": ws_port,
        "username": username, "password": password,
    });
    let admin = AdminState {
        token: admin_token,
        embedder,
        gallery: recognizer.gallery.clone(),
        preview,
        engine: engine_tx,
        uploads: settings.store_path.join("uploads"),
        changing: tokio::sync::Mutex::new(()),
    };
    let web_state = WebState {
        page_config: Arc::new(page_config),
        metrics: metrics.clone(),
        capture: capture_stats.clone(),
        slot: slot.clone(),
        store: store.clone(),
        admin: Arc::new(admin),
    };
    let web_address = web_listener.local_addr()?;
    tasks.spawn(web::serve(web_listener, web_state, cancel.clone()));
    tracing::info!(%device, %prefix, startup_ms = started.elapsed().as_millis() as u64, sources = sources.len(), "cuebox running");

    if let Mode::Demo { .. } = mode {
        print_urls(&device, &prefix, web_address, &settings.mqtt.broker, demo_token.as_deref());
    }
    let duration = match mode {
        Mode::Demo { duration } => duration,
        Mode::Run => None,
    };
    stop_signals.wait(duration).await;
    tracing::info!("stopping");
    cancel.cancel();
    tokio::task::spawn_blocking(move || {
        capture.stop();
        worker.stop();
    })
    .await?;
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await.is_err() {
        tracing::warn!("some tasks did not stop in time");
    }
    store.flush()?;
    Ok(())
}

fn print_urls(device: &str, prefix: &str, web: std::net::SocketAddr, broker: &BrokerSettings, admin_token: Option<&str>) {
    println!("Cuebox demo running (device {device})");
    println!("  prompter   http://{web}/");
    println!("  overlay    http://{web}/overlay");
    if let Some(token) = admin_token {
        println!("  admin      http://{web}/admin?token={token}");
    }
    println!("  health     http://{web}/healthz");
    println!("  metrics    http://{web}/metrics");
    if let BrokerSettings::Embedded { listen, ws_listen, .. } = broker {
        println!("  MQTT       mqtt://{listen}   (WebSocket ws://{ws_listen}/mqtt)");
    }
    println!("  topics     {prefix}/#");
    println!("Press Ctrl-C to stop.");
}

/// A fresh admin token for the demo (128 bits from the kernel, hex).
fn random_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// SIGINT and SIGTERM, watched from the first moment so that a stop during startup is a
/// clean stop too.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("watching SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("watching SIGTERM")?,
        })
    }

    async fn wait(mut self, duration: Option<Duration>) {
        let elapsed = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = elapsed => {}
        }
    }
}

async fn publish_metrics(outbox: Outbox, metrics: Arc<Metrics>, capture: Arc<CaptureStats>, slot: Arc<FrameSlot>, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(METRICS_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (Instant::now(), capture.frames_in(), metrics.frames_processed.load(Ordering::Relaxed));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let frames_in = capture.frames_in();
        let processed = metrics.frames_processed.load(Ordering::Relaxed);
        let seconds = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = |now: u64, before: u64| ((now.saturating_sub(before)) as f64 / seconds * 10.0).round() / 10.0;
        let quantile = |q| metrics.inference_ms.quantile(q).map(|v| (v * 10.0).round() / 10.0);
        let payload = json!({
            "ts": now_ms(),
            "camera": capture.state().as_str(),
            "camera_restarts": capture.restarts(),
            "fps_in": rate(frames_in, last.1),
            "fps_processed": rate(processed, last.2),
            "frames_dropped": slot.dropped(),
            "inference_ms_p50": quantile(0.5),
            "inference_ms_p99": quantile(0.99),
            "outbox_depth": metrics.outbox_depth.load(Ordering::Relaxed),
            "uptime_s": metrics.started.elapsed().as_secs(),
        });
        outbox.json(Topic::Metrics, &payload);
        metrics.set_rates(rate(frames_in, last.1), rate(processed, last.2));
        last = (now, frames_in, processed);
    }
}
