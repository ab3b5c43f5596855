//! The one-shot CLI commands (CONTRACT §1).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cuebox_catalog::{ImportDigest, ImportOutcome, Store, parse_catalog};
use cuebox_vision::{Embedder, RgbImage, Signal, decode_image};

use crate::photo::{Within, load_photo, read_photo};
use serde_json::json;

use crate::progress::Progress;

/// Input that is wrong (exit code 2), one readable line per problem.
#[derive(Debug)]
pub struct BadInput(pub Vec<String>);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for BadInput {}

pub fn open_store(path: &Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(path).with_context(|| format!("creating the store folder {}", path.display()))?;
    Store::open(path).with_context(|| {
        format!("opening the store at {} (is a cuebox daemon using it? stop it or pass another --db)", path.display())
    })
}

/// How the daemon's store was opened.
pub enum Opened {
    AsItWas,
    /// The store was damaged: it was moved aside (kept for support, and logged) and a new,
    /// empty store was made in its place.
    SetAside,
}

/// Opens the daemon's store; a damaged one (sled's corruption errors, or a panic inside sled
/// while opening it) is moved aside and replaced by an empty store, so that the daemon starts
/// instead of failing at every restart. A store in use, or unreadable for want of permission,
/// is an error as before.
pub fn open_or_set_aside(path: &Path) -> anyhow::Result<(Store, Opened)> {
    std::fs::create_dir_all(path).with_context(|| format!("creating the store folder {}", path.display()))?;
    // sled 0.34 can panic on some damaged files: caught here, and not printed as a panic.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(|| Store::open(path));
    std::panic::set_hook(previous_hook);
    let failure = match opened {
        Ok(Ok(store)) => return Ok((store, Opened::AsItWas)),
        Ok(Err(error)) if error.is_damage() => error.to_string(),
        Ok(Err(error)) => {
            return Err(anyhow::Error::new(error).context(format!(
                "opening the store at {} (is a cuebox daemon using it? stop it or pass another --db)",
                path.display()
            )));
        }
        Err(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "sled panicked while opening it".into()),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "store".into());
    let aside = path.with_file_name(format!("{name}.damaged-{}", crate::engine::now_ms()));
    std::fs::rename(path, &aside)
        .with_context(|| format!("moving the damaged store {} aside ({failure})", path.display()))?;
    tracing::error!(
        store = %path.display(),
        kept_at = %aside.display(),
        error = %failure,
        "the store was damaged: it was moved aside and the daemon starts with an empty store (import the catalog again)"
    );
    Ok((open_store(path)?, Opened::SetAside))
}

/// The embedding model, loaded on first use (a no-op import never loads it).
pub struct Model {
    configured: Option<PathBuf>,
    loaded: std::cell::OnceCell<Embedder>,
}

impl Model {
    pub fn configured(path: Option<&Path>) -> Self {
        Self { configured: path.map(Path::to_path_buf), loaded: std::cell::OnceCell::new() }
    }

    pub fn loaded(embedder: Embedder) -> Self {
        Self { configured: None, loaded: std::cell::OnceCell::from(embedder) }
    }

    pub fn get(&self) -> anyhow::Result<&Embedder> {
        if let Some(embedder) = self.loaded.get() {
            return Ok(embedder);
        }
        let embedder = Embedder::load(&crate::assets::model_path(self.configured.as_deref())?)?;
        Ok(self.loaded.get_or_init(|| embedder))
    }

    /// The model's identity (see `ModelInfo::identity`), without loading it.
    pub fn identity(&self) -> anyhow::Result<String> {
        match self.loaded.get() {
            Some(embedder) => Ok(embedder.info().identity.clone()),
            None => Ok(cuebox_vision::model_identity(&crate::assets::model_path(self.configured.as_deref())?)?),
        }
    }
}

/// What an import did, for the operator.
pub struct ImportReport {
    pub outcome: ImportOutcome,
    /// The reference photos of the file (each enrolled as several references).
    pub photos: usize,
    /// Compliance and completeness findings, located in the file: reported, not blocking.
    pub warnings: Vec<String>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            ImportOutcome::Unchanged(h) => {
                write!(f, "catalog unchanged ({} products, generation {})", h.products, h.generation)
            }
            ImportOutcome::Imported(h) => write!(
                f,
                "imported {} products with {} reference photos ({} references, generation {})",
                h.products, self.photos, h.references, h.generation
            ),
        }
    }
}

/// Validates a catalog file and its photos, then imports it all or nothing. With `progress`, a
/// bar on a terminal's stderr follows the photos as they are enrolled.
pub fn import_file(store: &Store, file: &Path, model: &Model, progress: bool) -> anyhow::Result<ImportReport> {
    import_file_named(store, file, &file.display().to_string(), model, progress)
}

/// The largest catalog file read: a studio's catalog with every language and FAQ is a few MB;
/// beyond this it is refused before it is read (structure bombs of millions of keys or items).
pub const MAX_CATALOG_BYTES: u64 = 16 * 1024 * 1024;

/// A catalog file's text: a regular file of at most MAX_CATALOG_BYTES, in UTF-8.
fn read_catalog_text(file: &Path, shown: &str) -> Result<String, BadInput> {
    use std::io::Read;
    let bad = |what: String| BadInput(vec![format!("{shown}: {what}")]);
    let opened = std::fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    let metadata = opened.metadata().map_err(|e| bad(e.to_string()))?;
    if !metadata.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if metadata.len() > MAX_CATALOG_BYTES {
        return Err(bad(format!("{} bytes, above the limit of {MAX_CATALOG_BYTES}", metadata.len())));
    }
    let mut bytes = Vec::new();
    opened.take(MAX_CATALOG_BYTES + 1).read_to_end(&mut bytes).map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > MAX_CATALOG_BYTES {
        return Err(bad(format!("more than the limit of {MAX_CATALOG_BYTES} bytes")));
    }
    String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to())))
}

/// As [`import_file`], naming the file `shown` in every message (an uploaded file's own name).
pub fn import_file_named(
    store: &Store,
    file: &Path,
    shown: &str,
    model: &Model,
    progress: bool,
) -> anyhow::Result<ImportReport> {
    let shown = shown.to_owned();
    let text = read_catalog_text(file, &shown)?;
    let mut parsed =
        parse_catalog(&text).map_err(|problems| BadInput(problems.iter().map(|p| format!("{shown}:{p}")).collect()))?;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    parsed.resolve_images(&base);
    // First pass: every photo checked and decoded, one at a time, and hashed; nothing is kept, so
    // memory stays at one photo whatever the catalog names.
    let mut problems = Vec::new();
    let mut digest = ImportDigest::new(&model.identity()?, &text);
    for image in &parsed.images {
        let place = format!("{shown}:{}:{}: products[sku={}].images", image.at.line, image.at.column, image.sku);
        match read_photo(Path::new(&image.path), Within::Folder(&base)) {
            Err(message) => problems.push(format!("{place}: {}: {message}", image.written)),
            Ok(bytes) => match decode_image(&bytes) {
                Ok(_) => digest.photo(&bytes),
                Err(message) => problems.push(format!("{place}: {}: {message}", image.written)),
            },
        }
    }
    if !problems.is_empty() {
        return Err(BadInput(problems).into());
    }
    let warnings: Vec<String> =
        cuebox_catalog::lint_parsed(&parsed, |_| true).iter().map(|f| format!("{shown}:{f}")).collect();
    let digest = digest.finish();
    if let Some(header) = store.header()?
        && header.digest == digest
    {
        return Ok(ImportReport { outcome: ImportOutcome::Unchanged(header), photos: parsed.images.len(), warnings });
    }
    let finder = crate::recognition::finder(model.get()?.clone());
    let mut references = Vec::new();
    let mut bar = Progress::new("enrolling photos", parsed.images.len(), progress);
    // Second pass: each photo decoded again and enrolled, one at a time; a file changed since the
    // first pass still fails the whole import before anything is written.
    for image in &parsed.images {
        let decoded = load_photo(Path::new(&image.path), Within::Folder(&base)).map_err(|message| {
            BadInput(vec![format!(
                "{shown}:{}:{}: products[sku={}].images: {}: {message}",
                image.at.line, image.at.column, image.sku, image.written
            )])
        })?;
        let view = decoded.view()?;
        references.extend(
            crate::recognition::references(&finder, &image.sku, view, view.full(), image.path.clone())
                .with_context(|| format!("embedding {}", image.path))?,
        );
        bar.advance();
    }
    drop(bar);
    let outcome = store.import(&parsed.catalog, &references, &digest, &shown)?;
    Ok(ImportReport { outcome, photos: parsed.images.len(), warnings })
}

pub fn list(store: &Store, json_output: bool) -> anyhow::Result<()> {
    let header = store.header()?;
    let locale = header.as_ref().map(|h| h.default_locale.clone()).unwrap_or_default();
    let references = store.references()?;
    let count = |sku: &str| references.iter().filter(|r| r.sku == sku).count();
    let photos = |sku: &str| references.iter().filter(|r| r.sku == sku && !r.thumbnail.is_empty()).count();
    let products = store.products()?;
    if json_output {
        let items: Vec<_> = products
            .iter()
            .map(|p| {
                json!({
                    "sku": p.sku, "name": p.name.0, "price": p.price, "promo": p.promo.as_ref().map(|t| &t.0),
                    "tags": p.tags, "barcodes": p.barcodes, "images": p.images,
                    "cue_cards": p.script.len(), "faq": p.faq.len(), "photos": photos(&p.sku), "references": count(&p.sku),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        for p in &products {
            let name = p.name.first(&locale, &locale).unwrap_or("");
            let price =
                p.price.as_ref().map(|pr| crate::messages::display_price(&pr.amount, &pr.currency)).unwrap_or_default();
            println!("{}\t{name}\t{price}\t{} cue cards\t{} photos", p.sku, p.script.len(), photos(&p.sku));
        }
    }
    Ok(())
}

pub fn export(store: &Store) -> anyhow::Result<()> {
    let catalog = store.export()?.context("no catalog has been imported into this store")?;
    print!("{}", cuebox_catalog::to_yaml(&catalog));
    Ok(())
}

/// Checks and decodes every image, one at a time and without keeping them, so that one bad
/// file changes nothing.
fn check_all(images: &[PathBuf]) -> anyhow::Result<()> {
    let problems: Vec<String> = images
        .iter()
        .filter_map(|path| load_photo(path, Within::Anywhere).err().map(|m| format!("{}: {m}", path.display())))
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(BadInput(problems).into()) }
}

/// Adds (or with `replace`, replaces with) reference photos of a product; with `progress`, as
/// [`import_file`].
pub fn enroll(
    store: &Store,
    sku: &str,
    images: &[PathBuf],
    replace: bool,
    model: &Model,
    progress: bool,
) -> anyhow::Result<usize> {
    if store.product(sku)?.is_none() {
        return Err(BadInput(vec![format!("--sku {sku}: no such product in the catalog")]).into());
    }
    check_all(images)?;
    let finder = crate::recognition::finder(model.get()?.clone());
    let mut references = Vec::new();
    let mut bar = Progress::new("enrolling photos", images.len(), progress);
    for path in images {
        let image =
            load_photo(path, Within::Anywhere).map_err(|m| BadInput(vec![format!("{}: {m}", path.display())]))?;
        let view = image.view()?;
        references.extend(crate::recognition::references(&finder, sku, view, view.full(), path.display().to_string())?);
        bar.advance();
    }
    drop(bar);
    Ok(store.enroll(sku, &references, replace)?)
}

/// `cuebox calibrate`: what the studio looks like without a product, from frames of the empty
/// set and of the host without one; each part given replaces its earlier recording.
pub fn calibrate(
    store: &Store,
    empty: &[PathBuf],
    host: &[PathBuf],
    model: &Model,
    tuning: crate::recognition::Tuning,
) -> anyhow::Result<cuebox_catalog::StudioView> {
    if empty.is_empty() && host.is_empty() {
        return Err(BadInput(vec![
            "give frames of the empty set (--empty) or of the host without a product (--host)".into(),
        ])
        .into());
    }
    let mut problems = Vec::new();
    let mut load = |paths: &[PathBuf]| -> Vec<RgbImage> {
        paths
            .iter()
            .filter_map(|path| {
                load_photo(path, Within::Anywhere).map_err(|m| problems.push(format!("{}: {m}", path.display()))).ok()
            })
            .collect()
    };
    let (empty, host) = (load(empty), load(host));
    if !problems.is_empty() {
        return Err(BadInput(problems).into());
    }
    let recognizer = crate::recognition::Recognizer::new(model.get()?.clone(), store, tuning)?;
    let mut view = None;
    for (phase, images) in [(cuebox_catalog::StudioPhase::Empty, &empty), (cuebox_catalog::StudioPhase::Host, &host)] {
        if images.is_empty() {
            continue;
        }
        let views = images.iter().map(RgbImage::view).collect::<Result<Vec<_>, _>>()?;
        view = Some(crate::recognition::studio::calibrate(&recognizer, store, phase, &views)?);
    }
    view.context("nothing was calibrated")
}

/// `cuebox calibrate --forget`: whether there was a calibration under the current model.
pub fn forget_calibration(store: &Store, model: &Model) -> anyhow::Result<bool> {
    Ok(store.clear_studio_view(&model.identity()?)?)
}

pub fn recognize(
    store: &Store,
    images: &[PathBuf],
    model: &Model,
    tuning: crate::recognition::Tuning,
    json_output: bool,
) -> anyhow::Result<()> {
    let recognizer = crate::recognition::Recognizer::new(model.get()?.clone(), store, tuning)?;
    let mut problems = Vec::new();
    for path in images {
        let image = match load_photo(path, Within::Anywhere) {
            Ok(i) => i,
            Err(message) => {
                problems.push(format!("{}: {message}", path.display()));
                continue;
            }
        };
        let view = image.view()?;
        let read = recognizer.read_text(view, view.full())?;
        let decision = recognizer.find(view, recognizer.reads_text().then_some(read.as_slice()))?.decision;
        let round = |v: f32| (f64::from(v) * 1000.0).round() / 1000.0;
        if json_output {
            let candidates: Vec<_> =
                decision.candidates.iter().take(5).map(|c| json!({"sku": c.sku, "score": round(c.score)})).collect();
            let text = decision.text.as_ref().map(|text| {
                let best = text.candidates.first();
                json!({
                    "read": read,
                    "sku": text.named(),
                    "best": best.map(|c| json!({
                        "sku": c.sku,
                        "score": round(c.score),
                        "matched": c.evidence.iter().map(|e| json!({"read": e.read, "enrolled": e.enrolled})).collect::<Vec<_>>(),
                    })),
                })
            });
            let shapes: Vec<_> =
                decision.shapes.iter().take(3).map(|m| json!({"sku": m.sku, "inliers": m.inliers})).collect();
            println!(
                "{}",
                json!({
                    "image": path.display().to_string(),
                    "sku": decision.sku,
                    "score": round(decision.score),
                    "signal": decision.signal.map(Signal::as_str),
                    "candidates": candidates,
                    "text": text,
                    "shapes": shapes,
                })
            );
        } else {
            let by = decision.signal.map(|s| format!(", by {}", s.as_str())).unwrap_or_default();
            match (&decision.sku, decision.candidates.first()) {
                (Some(sku), _) => println!("{}: {sku} ({:.3}{by})", path.display(), decision.score),
                (None, Some(best)) => {
                    println!("{}: no product (closest {} at {:.3})", path.display(), best.sku, best.score)
                }
                (None, None) => println!("{}: no product (nothing enrolled)", path.display()),
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(BadInput(problems).into()) }
}

/// `cuebox catalog lint`: one finding per line on stdout, a count on stderr; bad input (exit 2)
/// when there is an error.
pub fn lint(file: &Path) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let text = read_catalog_text(file, &shown)?;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let findings = cuebox_catalog::lint_source(&text, |image| base.join(image).exists());
    for finding in &findings {
        println!("{shown}:{finding}");
    }
    let errors = findings.iter().filter(|f| f.severity == cuebox_catalog::Severity::Error).count();
    eprintln!("{errors} errors, {} warnings", findings.len() - errors);
    if errors > 0 { Err(BadInput(vec![format!("{shown}: {errors} errors")]).into()) } else { Ok(()) }
}

/// `cuebox catalog generate`: the catalog with generated cue cards on stdout, the report on stderr.
pub fn generate(file: &Path, cards: usize, variants: usize) -> anyhow::Result<()> {
    let shown = file.display().to_string();
    let text = read_catalog_text(file, &shown)?;
    let parsed =
        parse_catalog(&text).map_err(|problems| BadInput(problems.iter().map(|p| format!("{shown}:{p}")).collect()))?;
    let (catalog, report) = cuebox_catalog::generate_cards(&parsed.catalog, cards, variants);
    print!("{}", cuebox_catalog::to_yaml(&catalog));
    eprint!("{report}");
    Ok(())
}

/// `cuebox ask`: the answers to a viewer question, best first (CONTRACT §5).
pub fn ask(
    store: &Store,
    question: &str,
    sku: Option<&str>,
    semantic: Option<&Path>,
    min_score: Option<f32>,
    json_output: bool,
) -> anyhow::Result<()> {
    let header = store.header()?.context("no catalog has been imported into this store")?;
    let text_model = match semantic {
        Some(dir) => Some(cuebox_catalog::TextEmbedder::load(dir)?.remembering_in(store.text_embeddings()?)),
        None => None,
    };
    let index = cuebox_catalog::FaqIndex::build(
        &store.studio_faq()?,
        &store.products()?,
        &header.default_locale,
        text_model.as_ref(),
    )?;
    let index = match min_score {
        Some(m) => index.with_min_score(m),
        None => index,
    };
    let answers = index.ask(question, sku, 3)?;
    if json_output {
        let answers: Vec<_> = answers
            .iter()
            .map(|a| json!({"faq_id": a.faq_id, "sku": a.sku, "answer": a.answer, "score": (f64::from(a.score) * 1000.0).round() / 1000.0, "lang": a.locale, "question_lang": a.question_lang}))
            .collect();
        println!("{}", json!({"question": question, "answers": answers}));
    } else if answers.is_empty() {
        println!("no answer in the FAQ");
    } else {
        for a in &answers {
            println!("{:.3}  {}  {}", a.score, a.faq_id, a.answer);
        }
    }
    Ok(())
}
