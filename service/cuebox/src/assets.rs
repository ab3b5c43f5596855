//! Finding the files Cuebox ships beside its binary: the model and the demo.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cuebox_capture::Source;

pub const MODEL_FILE: &str = "models/efficientnet-lite0.onnx";
pub const DEMO_CATALOG: &str = "demo/catalog.yaml";
const INSTALLED_ROOT: &str = "/usr/share/cuebox";

/// Where shipped files are looked for, in order: the working directory, the folders above the
/// executable (a source checkout), the installed location.
fn roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots.push(PathBuf::from(INSTALLED_ROOT));
    roots
}

pub fn find(relative: &str) -> Option<PathBuf> {
    roots().into_iter().map(|r| r.join(relative)).find(|p| p.exists())
}

/// The configured model, or the shipped one.
pub fn model_path(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    match configured {
        Some(p) if p.exists() => Ok(p.to_owned()),
        Some(p) => bail!("vision.model: {} does not exist", p.display()),
        None => find(MODEL_FILE).with_context(|| {
            format!("the model {MODEL_FILE} is not installed (run `cargo xtask setup`, or set vision.model)")
        }),
    }
}

/// The folder of the OCR models' files, when they are installed.
pub fn ocr_models_dir() -> Option<PathBuf> {
    find(&format!("models/{}", cuebox_vision::DETECTOR_FILE)).and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The folder of the text-embedding model's files, when they are installed.
pub fn text_model_dir() -> Option<PathBuf> {
    find(&format!("models/{}", cuebox_catalog::TEXT_MODEL_FILE)).and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The demo catalog file and the demo clips, played in name order.
pub struct Demo {
    pub catalog: PathBuf,
    pub clips: Vec<Source>,
}

pub fn demo() -> anyhow::Result<Demo> {
    let catalog = find(DEMO_CATALOG)
        .with_context(|| format!("the demo ({DEMO_CATALOG}) is not installed (run `cargo xtask setup`)"))?;
    let folder = catalog.parent().map(|p| p.join("clips")).unwrap_or_default();
    let mut clips: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| format!("demo clips folder {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    clips.sort();
    if clips.is_empty() {
        bail!("no demo clips in {} (run `cargo xtask setup`)", folder.display());
    }
    let clips = clips
        .into_iter()
        .map(|p| std::fs::canonicalize(&p).map(Source::File).with_context(|| p.display().to_string()))
        .collect::<anyhow::Result<_>>()?;
    Ok(Demo { catalog, clips })
}

/// The device id when none is configured: from /etc/machine-id, else the hostname.
pub fn default_device_id() -> String {
    let from_machine_id = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().chars().take(12).collect::<String>())
        .filter(|s| cuebox_catalog::is_identifier(s));
    from_machine_id
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| {
                    h.trim().chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(64).collect()
                })
                .filter(|s: &String| !s.is_empty())
        })
        .unwrap_or_else(|| "cuebox".to_owned())
}
