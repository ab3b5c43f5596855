//! The daemon: starts every part, supervises them, and shuts them down in order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use cuebox_capture::{Backoff, Capture, CaptureConfig, CaptureStats, FrameSlot};
use cuebox_catalog::Store;
use cuebox_vision::Embedder;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::assets;
use crate::chat::connector::{Connector, Protocol, Timings};
use crate::chat::sources::{ChatSources, SourceState};
use crate::chat::{ChatSettings, ChatThread};
use crate::config::{BrokerSettings, ConnectorKind, Loaded, Settings};
use crate::engine::{Engine, EngineInput, now_ms};
use crate::metrics::Metrics;
use crate::mqtt::{self, LinkConfig, Outbox, Topic};
use crate::recognition::studio::Corrections;
use crate::recognition::{Pipeline, Recognizer, SharedPreview, Tuning};
use crate::web::{self, AdminState, AdminToken, ChatWebhook, WebState};

const METRICS_INTERVAL: Duration = Duration::from_secs(5);
const ENGINE_TICK: Duration = Duration::from_millis(250);
/// Viewer messages waiting to be answered; beyond, new ones are dropped and counted.
const CHAT_QUEUE: usize = 256;

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Run,
    Demo { duration: Option<Duration> },
}

pub async fn run(loaded: Loaded, mode: Mode) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut stop_signals = StopSignals::install()?;
    let settings = loaded.settings.clone();
    let device = settings.device_id.clone().unwrap_or_else(assets::default_device_id);
    let prefix = settings.mqtt.topic_prefix.clone().unwrap_or_else(|| format!("cuebox/{device}"));
    let demo = match mode {
        Mode::Demo { .. } => Some(assets::demo()?),
        Mode::Run if settings.capture.sources.is_none() => Some(assets::demo()?),
        Mode::Run => None,
    };

    let model = assets::model_path(settings.vision.model.as_deref())?;
    let store_path = settings.store_path.clone();
    let (store, embedder, opened) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let embedder = Embedder::load(&model)?;
        let (store, opened) = crate::commands::open_or_set_aside(&store_path)?;
        Ok((store, embedder, opened))
    })
    .await??;
    tracing::info!(model = %embedder.info().name, load_ms = embedder.info().load_ms as u64, "model loaded");
    let store = Arc::new(store);
    if let (Mode::Demo { .. }, Some(demo)) = (mode, &demo) {
        let (store, embedder, catalog) = (store.clone(), embedder.clone(), demo.catalog.clone());
        let report = tokio::task::spawn_blocking(move || {
            crate::commands::import_file(&store, &catalog, &crate::commands::Model::loaded(embedder), false)
        })
        .await??;
        tracing::info!(%report, "demo catalog");
    }
    let header = store.header()?;
    if header.is_none() {
        tracing::warn!(
            "no catalog imported yet: nothing will be recognized until one is (cuebox catalog import FILE, or the admin page)"
        );
    }
    let default_locale = header
        .as_ref()
        .map_or_else(|| settings.locale.clone().unwrap_or_else(|| "zh-CN".into()), |h| h.default_locale.clone());
    let recognizer = Arc::new(Recognizer::new(embedder, &store, Tuning::from(&settings.vision))?);
    if recognizer.gallery.current().is_empty() {
        tracing::warn!("no product has reference photos: nothing can be recognized until some are enrolled");
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
    metrics.store_set_aside.store(matches!(opened, crate::commands::Opened::SetAside), Ordering::Relaxed);
    let page_logins = crate::broker::PageLogins::default();
    let embedded = match &settings.mqtt.broker {
        BrokerSettings::Embedded { listen, ws_listen, users_file } => {
            let users = users_file.as_deref().map(crate::broker::read_users).transpose()?;
            if let (Some(users), Some(own)) = (&users, &settings.mqtt.username)
                && !users.contains_key(own)
            {
                anyhow::bail!("mqtt.embedded_users_file has no line for mqtt.username {own:?}");
            }
            let listen = crate::broker::Listen {
                mqtt: *listen,
                websocket: *ws_listen,
                users,
                daemon_user: settings.mqtt.username.as_deref(),
                prefix: &prefix,
            };
            Some(crate::broker::start(listen, page_logins.clone(), metrics.clone())?)
        }
        BrokerSettings::External { .. } => None,
    };
    let (outbox, outbox_rx) = Outbox::channel(256, metrics.clone());
    let (engine_tx, mut engine_rx) = mpsc::channel(64);
    let (chat_tx, chat_rx) = std::sync::mpsc::sync_channel(CHAT_QUEUE);
    let chat_sources = Arc::new(ChatSources::new(settings.faq.rate, chat_tx, metrics.clone()));
    let chat_in = chat_sources.add("mqtt", "mqtt", SourceState::Listening);
    let webhook = match &settings.chat.webhook_token_file {
        Some(file) => {
            let token = crate::mqtt::read_secret(file).context("chat.webhook_token_file")?;
            if token.len() < 12 {
                anyhow::bail!("chat.webhook_token_file {}: the token must be at least 12 characters", file.display());
            }
            Some((AdminToken::new(&token), chat_sources.add("webhook", "webhook", SourceState::Listening)))
        }
        None => None,
    };
    start_connectors(&settings, &chat_sources, cancel.clone(), &tasks)?;
    let embedded_link = embedded.as_ref().map(|e| (e.inner, e.inner_login.clone()));
    if let Some(embedded) = embedded {
        embedded.serve(&cancel, &tasks)?;
    }
    mqtt::start(
        LinkConfig {
            settings: settings.mqtt.clone(),
            device: device.clone(),
            prefix: prefix.clone(),
            client_id: settings.mqtt.client_id.clone().unwrap_or_else(|| format!("cuebox-{device}")),
            queue: store.auxiliary_tree("mqtt-outbox")?,
            embedded: embedded_link,
        },
        outbox_rx,
        engine_tx.clone(),
        chat_in,
        metrics.clone(),
        cancel.clone(),
        &tasks,
    )?;

    let locale = settings.locale.clone().unwrap_or_else(|| default_locale.clone());
    let mut engine = Engine::new(
        store.clone(),
        store.products()?,
        default_locale,
        Some(locale.clone()),
        outbox.clone(),
        metrics.clone(),
    );
    engine.set_barcode_hold(settings.vision.tracker.exit);
    let preview = SharedPreview::default();
    let (corrections, corrections_worker) =
        Corrections::spawn(recognizer.clone(), store.clone(), preview.clone(), metrics.clone())?;
    engine.set_corrections(corrections);
    engine.start();
    let on_air = engine.on_air();
    let semantic = if settings.faq.semantic {
        let dir = assets::text_model_dir();
        if dir.is_none() {
            tracing::warn!("faq.semantic is on but the text model is not installed: answering with BM25 only");
        }
        dir
    } else {
        None
    };
    let chat = ChatThread {
        store: store.clone(),
        settings: ChatSettings {
            window: settings.faq.window,
            demand_window: settings.faq.demand_window,
            demand_min: settings.faq.demand_min,
            min_score: settings.faq.min_score,
            semantic,
        },
        on_air: on_air.clone(),
        engine: engine_tx.clone(),
        metrics: metrics.clone(),
    };
    let chat_worker = crate::worker::Worker::spawn("chat", &metrics.workers, move |stop| {
        chat.run(&chat_rx, stop);
        Ok(())
    })?;
    tasks.spawn({
        let cancel = cancel.clone();
        async move {
            let mut tick = tokio::time::interval(ENGINE_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => engine.handle(EngineInput::Tick),
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
            backend: settings.capture.backend,
            backoff: Backoff { first: Duration::from_millis(100), max: settings.capture.retry_max },
        },
        slot.clone(),
        capture_stats.clone(),
    )?;
    let pipeline = Pipeline {
        recognizer: recognizer.clone(),
        slot: slot.clone(),
        capture: capture_stats.clone(),
        lost_grace: settings.capture.lost_grace,
        events: engine_tx.clone(),
        metrics: metrics.clone(),
        preview: preview.clone(),
        text: crate::recognition::SharedText::default(),
    };
    let vision = pipeline.spawn_vision()?;
    let barcodes = pipeline.spawn_barcodes()?;
    let text = pipeline.spawn_text()?;
    let panel = crate::panel::spawn(
        &settings.hardware,
        crate::panel::PanelInputs {
            device_id: device.clone(),
            capture: capture_stats.clone(),
            metrics: metrics.clone(),
            on_air: on_air.clone(),
            store: store.clone(),
            engine: engine_tx.clone(),
        },
    )?;

    tasks.spawn(publish_metrics(outbox.clone(), metrics.clone(), capture_stats.clone(), slot.clone(), cancel.clone()));
    tasks.spawn(crate::chat::sources::publish_status(
        chat_sources.clone(),
        outbox.clone(),
        METRICS_INTERVAL,
        cancel.clone(),
    ));
    tasks.spawn(crate::memory::return_freed_memory_every(METRICS_INTERVAL, cancel.clone()));
    let ws_url = settings.web.mqtt_ws_url.clone();
    let ws_port = match settings.mqtt.broker {
        BrokerSettings::Embedded { ws_listen, .. } => Some(ws_listen.port()),
        BrokerSettings::External { .. } => None,
    };
    let page_login = match (&settings.mqtt.broker, &settings.web.mqtt_login) {
        (BrokerSettings::Embedded { users_file: None, .. }, _) => web::PageLogin::Open,
        (BrokerSettings::Embedded { users_file: Some(_), .. }, _) => web::PageLogin::Minted(page_logins),
        (BrokerSettings::External { .. }, Some((username, file))) => web::PageLogin::Fixed {
            username: username.clone(),
            password: file.as_deref().map(crate::mqtt::read_secret).transpose().context("web.mqtt_password_file")?,
        },
        (BrokerSettings::External { .. }, None) => web::PageLogin::Anonymous,
    };
    let page_base = web::PageBase { device: device.clone(), prefix: prefix.clone(), locale, ws_url, ws_port };
    let admin = AdminState {
        token: admin_token,
        recognizer: recognizer.clone(),
        preview,
        engine: engine_tx,
        uploads: settings.store_path.join("uploads"),
        changing: tokio::sync::Mutex::new(()),
        sessions: web::Sessions::default(),
    };
    let web_state = WebState {
        pages: Arc::new(web::PageConfig { base: page_base, login: page_login }),
        metrics: metrics.clone(),
        capture: capture_stats.clone(),
        slot: slot.clone(),
        store: store.clone(),
        admin: Arc::new(admin),
        chat: Arc::new(ChatWebhook(webhook)),
        chat_sources,
    };
    let web_address = web_listener.local_addr()?;
    tasks.spawn(web::serve(web_listener, web_state, cancel.clone()));
    tracing::info!(%device, %prefix, startup_ms = started.elapsed().as_millis() as u64, sources = sources.len(), "cuebox running");
    notify(sd_notify::NotifyState::Ready);
    tasks.spawn(watchdog(capture_stats.clone(), metrics.clone(), cancel.clone()));

    if let Mode::Demo { .. } = mode {
        print_urls(&device, &prefix, web_address, &settings.mqtt.broker, demo_token.as_deref());
    }
    let duration = match mode {
        Mode::Demo { duration } => duration,
        Mode::Run => None,
    };
    let deadline = duration.map(|d| tokio::time::Instant::now() + d);
    let mut in_force = settings;
    while let Signal::Reload = stop_signals.next(deadline).await {
        in_force = reload(loaded.file.as_deref(), in_force, &recognizer, &store).await;
    }
    tracing::info!("stopping");
    notify(sd_notify::NotifyState::Stopping);
    cancel.cancel();
    tokio::task::spawn_blocking(move || {
        capture.stop();
        vision.stop();
        barcodes.stop();
        text.stop();
        corrections_worker.stop();
        if let Some(panel) = panel {
            panel.stop();
        }
        chat_worker.stop();
    })
    .await?;
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await.is_err() {
        tracing::warn!("some tasks did not stop in time");
    }
    store.flush()?;
    Ok(())
}

/// Starts a task per `[chat]` connector.
fn start_connectors(
    settings: &Settings,
    sources: &ChatSources,
    cancel: CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    let chat = &settings.chat;
    let roots = if chat.connectors.iter().any(|c| c.url.starts_with("wss://")) {
        crate::mqtt::system_roots().context("chat connectors with wss:// URLs")?
    } else {
        rustls::RootCertStore::empty()
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = Arc::new(tls);
    let timings =
        Timings { connect_timeout: chat.connect_timeout, ping_interval: chat.ping_interval, retry_max: chat.retry_max };
    for connector in &chat.connectors {
        let (url, protocol, kind) = match &connector.kind {
            ConnectorKind::ObaLiveTool { platform } => {
                (connector.url.clone(), Protocol::Oba { platform: platform.clone() }, "oba-live-tool")
            }
            ConnectorKind::SocialStream { session_file, platform } => {
                let session = crate::mqtt::read_secret(session_file)
                    .with_context(|| format!("chat source {}: session_file", connector.name))?;
                let url = crate::chat::social_stream::join_url(&connector.url, &session);
                (url, Protocol::SocialStream { platform: platform.clone() }, "social-stream")
            }
        };
        let source = sources.add(&connector.name, kind, SourceState::Connecting);
        let connector = Connector { url, protocol, timings, source, tls: tls.clone() };
        tasks.spawn(connector.run(cancel.clone()));
    }
    Ok(())
}

fn print_urls(
    device: &str,
    prefix: &str,
    web: std::net::SocketAddr,
    broker: &BrokerSettings,
    admin_token: Option<&str>,
) {
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

/// Tells systemd (when it started us with Type=notify); elsewhere it does nothing.
fn notify(state: sd_notify::NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(&[state]) {
        tracing::debug!(%error, "no service manager to notify");
    }
}

/// Pets systemd's watchdog only while the pipeline makes progress: frames arrive and are
/// recognized (or found unchanged). A stalled camera or vision loop lets the watchdog fire.
async fn watchdog(capture: Arc<CaptureStats>, metrics: Arc<Metrics>, cancel: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled().filter(|i| !i.is_zero()) else { return };
    let mut ticker = tokio::time::interval(interval / 2);
    let progress = || {
        (
            capture.frames_in(),
            metrics.frames_processed.load(Ordering::Relaxed) + metrics.frames_still.load(Ordering::Relaxed),
        )
    };
    let mut last = progress();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = progress();
        if now.0 > last.0 && now.1 > last.1 {
            notify(sd_notify::NotifyState::Watchdog);
        } else {
            tracing::warn!(frames_in = now.0, recognized = now.1, "no progress: the watchdog is not petted");
        }
        last = now;
    }
}

/// A fresh admin token for the demo (128 bits from the kernel, hex).
fn random_token() -> anyhow::Result<String> {
    crate::secret::random_hex(16).context("reading /dev/urandom")
}

/// SIGINT and SIGTERM stop, SIGHUP reloads; watched from the first moment so that a stop
/// during startup is a clean stop too.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

enum Signal {
    Stop,
    Reload,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("watching SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("watching SIGTERM")?,
            hangup: signal(SignalKind::hangup()).context("watching SIGHUP")?,
        })
    }

    /// The next stop or reload; a deadline (the demo's duration) counts as a stop.
    async fn next(&mut self, deadline: Option<tokio::time::Instant>) -> Signal {
        let elapsed = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Stop,
            _ = self.terminate.recv() => Signal::Stop,
            _ = elapsed => Signal::Stop,
            _ = self.hangup.recv() => Signal::Reload,
        }
    }
}

/// Reads the configuration again and applies what can change while frames flow (the model,
/// the vision tuning); a configuration with problems is refused and changes nothing. Returns
/// the settings now in force.
async fn reload(
    file: Option<&std::path::Path>,
    current: Settings,
    recognizer: &Arc<Recognizer>,
    store: &Arc<Store>,
) -> Settings {
    let fresh = match crate::config::load(file, &crate::config::process_env()) {
        Ok(loaded) => loaded.settings,
        Err(problems) => {
            for problem in problems {
                tracing::error!(%problem, "configuration not reloaded");
            }
            return current;
        }
    };
    let model = match assets::model_path(fresh.vision.model.as_deref()) {
        Ok(m) => m,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "configuration not reloaded");
            return current;
        }
    };
    let (recognizer_for_load, store_for_load) = (recognizer.clone(), store.clone());
    let loaded = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let embedder = Embedder::load(&model)?;
        let name = embedder.info().name.clone();
        recognizer_for_load.set_model(embedder, &store_for_load)?;
        Ok(name)
    })
    .await;
    match loaded {
        Ok(Ok(name)) => tracing::info!(model = %name, "model reloaded"),
        Ok(Err(error)) => {
            tracing::error!(error = %format!("{error:#}"), "model not reloaded; the previous one stays");
            return current;
        }
        Err(error) => {
            tracing::error!(%error, "model reload failed");
            return current;
        }
    }
    recognizer.set_tuning(Tuning::from(&fresh.vision));
    let needs_restart: Vec<&str> = [
        (
            "device",
            format!("{:?}{:?}", current.device_id, current.locale)
                != format!("{:?}{:?}", fresh.device_id, fresh.locale),
        ),
        ("capture", format!("{:?}", current.capture) != format!("{:?}", fresh.capture)),
        ("store", current.store_path != fresh.store_path),
        ("mqtt", format!("{:?}", current.mqtt) != format!("{:?}", fresh.mqtt)),
        ("web", format!("{:?}", current.web) != format!("{:?}", fresh.web)),
        ("faq", format!("{:?}", current.faq) != format!("{:?}", fresh.faq)),
        ("chat", current.chat != fresh.chat),
        ("hardware", current.hardware != fresh.hardware),
    ]
    .into_iter()
    .filter_map(|(section, changed)| changed.then_some(section))
    .collect();
    if needs_restart.is_empty() {
        tracing::info!("configuration reloaded");
    } else {
        tracing::warn!(sections = %needs_restart.join(", "), "configuration reloaded for vision; these sections changed and apply after a restart");
    }
    fresh
}

async fn publish_metrics(
    outbox: Outbox,
    metrics: Arc<Metrics>,
    capture: Arc<CaptureStats>,
    slot: Arc<FrameSlot>,
    cancel: CancellationToken,
) {
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
            "camera_error": match capture.state() { cuebox_capture::CameraState::Retrying { error } => Some(error), _ => None },
            "camera_outage_ms": capture.last_outage().map(|d| d.as_millis() as u64),
            "frames_unreadable": capture.frames_skipped(),
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
