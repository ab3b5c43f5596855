//! `cuebox`: the appliance daemon and its command line (CONTRACT §1).

mod assets;
mod bench;
mod broker;
mod capacity;
mod chat;
mod commands;
mod config;
mod daemon;
mod engine;
mod memory;
mod messages;
mod metrics;
mod mqtt;
mod panel;
mod photo;
mod progress;
mod recognition;
mod secret;
mod web;
mod worker;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::commands::BadInput;

#[derive(Parser)]
#[command(
    name = "cuebox",
    version,
    about = "Recognizes the product held up to the camera and cues the live-commerce host over MQTT"
)]
struct Cli {
    /// Configuration file (default: /etc/cuebox/cuebox.toml if present, else the embedded defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run,
    /// Run the daemon on the bundled demo clips and catalog, with the embedded broker, and print the URLs.
    Demo {
        /// Stop by itself after this many seconds.
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
    },
    /// Validate a configuration; print every problem (exit 0 valid, 2 invalid).
    CheckConfig,
    /// Import, export and list the catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Add reference photos for a product.
    Enroll {
        #[arg(long)]
        sku: String,
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// Replace the product's existing references instead of adding to them.
        #[arg(long)]
        replace: bool,
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
    },
    /// Teach recognition what the studio looks like without a product: frames of the empty set
    /// and of the host without a product (the admin page's "learn this studio" records them
    /// from the camera while the daemon runs).
    Calibrate {
        /// Frames of the empty set.
        #[arg(long, value_name = "IMAGE", num_args = 1..)]
        empty: Vec<PathBuf>,
        /// Frames of the host in the shot, without a product.
        #[arg(long, value_name = "IMAGE", num_args = 1..)]
        host: Vec<PathBuf>,
        /// Forget the studio's calibration instead.
        #[arg(long, conflicts_with_all = ["empty", "host"])]
        forget: bool,
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
    },
    /// Answer a viewer question from the FAQ.
    Ask {
        question: String,
        /// The product in view (its FAQ comes first).
        #[arg(long)]
        sku: Option<String>,
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Measure the pipeline on this machine: inference, recognition rate, frame-to-MQTT
    /// latency, memory and startup of a real daemon on the demo.
    Bench {
        /// Seconds of measuring (split between the model, recognition and the daemon).
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Also run the same model in onnxruntime (needs the source checkout's .venv) and report the ratio.
        #[arg(long)]
        peer: bool,
        #[arg(long)]
        json: bool,
    },
    /// Recognize the product in still images.
    Recognize {
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Import a catalog file (YAML or JSON) and enroll its photos, all or nothing.
    Import {
        file: PathBuf,
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
    },
    /// Write the catalog as YAML on stdout.
    Export {
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
    },
    /// List the products.
    List {
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Compliance and completeness findings for a catalog file, without importing it.
    Lint { file: PathBuf },
    /// Write the catalog with generated cue cards for products that have too few, as YAML.
    Generate {
        file: PathBuf,
        /// Cue cards every product should have.
        #[arg(long, default_value_t = 4)]
        cards: usize,
        /// Variants per generated card and locale.
        #[arg(long, default_value_t = 3)]
        variants: usize,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    init_logging(&cli.command);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<BadInput>() {
            Some(bad) => {
                for line in &bad.0 {
                    eprintln!("error: {line}");
                }
                ExitCode::from(2)
            }
            None => {
                eprintln!("error: {error:#}");
                ExitCode::from(1)
            }
        },
    }
}

fn init_logging(command: &Command) {
    let default = match command {
        // rumqttd reports every client disconnect as an error; its own logs are opt-in via RUST_LOG.
        Command::Run | Command::Demo { .. } => "info,rumqttd=off",
        _ => "warn,rumqttd=off",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn load_config(path: Option<&Path>) -> anyhow::Result<config::Loaded> {
    config::load(path, &config::process_env())
        .map_err(|problems| BadInput(problems.iter().map(ToString::to_string).collect()).into())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let loaded = load_config(cli.config.as_deref())?;
    let model = commands::Model::configured(loaded.settings.vision.model.as_deref());
    let store_at =
        |db: Option<PathBuf>| commands::open_store(&db.unwrap_or_else(|| loaded.settings.store_path.clone()));
    match cli.command {
        Command::Run => daemon_runtime(loaded, daemon::Mode::Run),
        Command::Demo { duration } => {
            daemon_runtime(loaded, daemon::Mode::Demo { duration: duration.map(Duration::from_secs) })
        }
        Command::CheckConfig => {
            let origin = loaded.file.map_or_else(|| "embedded defaults".to_owned(), |p| p.display().to_string());
            println!("{origin}: configuration is valid");
            Ok(())
        }
        Command::Catalog(CatalogCommand::Import { file, db }) => {
            let report = commands::import_file(&store_at(db)?, &file, &model, true)?;
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{report}");
            Ok(())
        }
        Command::Catalog(CatalogCommand::Export { db }) => commands::export(&store_at(db)?),
        Command::Catalog(CatalogCommand::List { db, json }) => commands::list(&store_at(db)?, json),
        Command::Catalog(CatalogCommand::Lint { file }) => commands::lint(&file),
        Command::Catalog(CatalogCommand::Generate { file, cards, variants }) => {
            commands::generate(&file, cards, variants)
        }
        Command::Ask { question, sku, db, json } => {
            let semantic = if loaded.settings.faq.semantic { assets::text_model_dir() } else { None };
            commands::ask(
                &store_at(db)?,
                &question,
                sku.as_deref(),
                semantic.as_deref(),
                loaded.settings.faq.min_score,
                json,
            )
        }
        Command::Enroll { sku, images, replace, db } => {
            let total = commands::enroll(&store_at(db)?, &sku, &images, replace, &model, true)?;
            println!("{sku}: {} photos enrolled, {total} references in all", images.len());
            Ok(())
        }
        Command::Calibrate { forget: true, db, .. } => {
            let forgotten = commands::forget_calibration(&store_at(db)?, &model)?;
            println!("{}", if forgotten { "studio calibration forgotten" } else { "the studio was not calibrated" });
            Ok(())
        }
        Command::Calibrate { empty, host, db, .. } => {
            let view = commands::calibrate(
                &store_at(db)?,
                &empty,
                &host,
                &model,
                recognition::Tuning::from(&loaded.settings.vision),
            )?;
            println!(
                "studio calibrated: {} frames of the empty set, {} of the host without a product",
                view.empty.frames, view.host.frames
            );
            Ok(())
        }
        Command::Bench { seconds, peer, json } => bench::bench(&bench::BenchOptions {
            seconds,
            json,
            peer,
            config: cli.config.clone(),
            model: loaded.settings.vision.model.clone(),
        }),
        Command::Recognize { images, db, json } => commands::recognize(
            &store_at(db)?,
            &images,
            &model,
            recognition::Tuning::from(&loaded.settings.vision),
            json,
        ),
    }
}

fn daemon_runtime(loaded: config::Loaded, mode: daemon::Mode) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(daemon::run(loaded, mode))
}
