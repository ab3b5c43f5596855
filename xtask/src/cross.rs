//! `cargo xtask cross [--no-test]`: the daemon for 64-bit ARM (aarch64-unknown-linux-gnu),
//! then the tests of the crates that do not use GStreamer, run under qemu-user.
//!
//! The daemon is built WITH its GStreamer backend, linked against Debian's arm64 GStreamer
//! (multiarch packages), so the binary is the one a Raspberry Pi OS or Armbian box runs.
//! Debian's `libgstreamer-plugins-base1.0-dev` cannot be installed for two architectures at once
//! (it is not Multi-Arch: same), so its arm64 .pc files are unpacked into the target folder and
//! its `.so` links point at the installed arm64 runtime libraries.
//!
//! The tests run with `qemu-aarch64 -L /`: the arm64 libc that the multiarch packages install
//! serves as the emulated system. (Debian's cross libc under /usr/aarch64-linux-gnu is a different
//! build of glibc 2.36; loading its ld.so next to the multiarch libc.so hangs in pthread_create.)
//! GStreamer pipelines hang under qemu-user, so the daemon itself is only checked with
//! `check-config` there.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::appliance::{apt_install, apt_install_arm64};
use crate::{Result, cargo, output, root, run};

pub const TARGET: &str = "aarch64-unknown-linux-gnu";
const TARGET_ENV: &str = "AARCH64_UNKNOWN_LINUX_GNU";
/// The workspace crates that do not link GStreamer: their unit tests run under qemu.
pub const QEMU_TESTED: &[&str] = &["cuebox-vision", "cuebox-catalog", "cuebox-panel"];
/// The integration tests run under qemu as well: one per model run by tract on arm64 (the image
/// embedding names real photos, the text embedding finds an answer across languages), the local
/// features and barcodes, and the panel's. Emulation runs a model about 40 times slower than this
/// machine, so the evaluations, OCR (6 minutes for one test) and the palm detector (the same
/// tract convolution kernels as the image model) are left to the native run.
const QEMU_INTEGRATION: &[(&str, &[&str])] = &[
    (
        "vision",
        &[
            "real_weights_classify_real_photos_into_their_imagenet_class",
            "local_features::the_box_is_found_in_the_scene_where_opencv_finds_it",
            "barcodes::ean_13_and_qr_codes_in_a_camera_frame_are_read_and_a_frame_without_none",
            "a_file_that_is_not_a_model_is_a_clear_error",
        ],
    ),
    ("catalog", &["a_chinese_question_finds_its_english_answer_first"]),
    ("panel", &[]),
];
/// Debian packages for the host: the cross compiler, qemu-user, dpkg-dev (dpkg-shlibdeps).
pub const APT: &[&str] = &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "qemu-user", "dpkg-dev"];
/// Debian packages for arm64 (multiarch): GStreamer to link against and the libc qemu runs.
pub const APT_ARM64: &[&str] =
    &["libc6:arm64", "libgstreamer1.0-dev:arm64", "libgstreamer-plugins-base1.0-0:arm64", "liborc-0.4-dev:arm64"];
const PLUGINS_BASE_RUNTIME: &str = "libgstreamer-plugins-base1.0-0:arm64";
const PLUGINS_BASE_DEV: &str = "libgstreamer-plugins-base1.0-dev";
const ARM64_LIBDIR: &str = "/usr/lib/aarch64-linux-gnu";
pub const QEMU: &[&str] = &["qemu-aarch64", "-L", "/"];

/// `cargo xtask cross [--no-test]`.
pub fn command(args: &[String]) -> Result {
    let test = match args {
        [] => true,
        [flag] if flag == "--no-test" => false,
        _ => return Err("usage: cargo xtask cross [--no-test]".into()),
    };
    let binary = build()?;
    println!("cross: built {}", binary.display());
    if test {
        self::test()?;
        smoke(&binary)?;
    }
    Ok(())
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// Everything the cross build needs on this machine, installed when missing.
fn prepare() -> Result<PathBuf> {
    apt_install(APT)?;
    apt_install_arm64(APT_ARM64)?;
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|l| l.trim() == TARGET) {
        eprintln!("xtask: adding the Rust target {TARGET}");
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    gstreamer_shim()
}

/// The arm64 .pc files and `.so` links of libgstreamer-plugins-base1.0-dev, for pkg-config.
fn gstreamer_shim() -> Result<PathBuf> {
    let dir = target_dir().join("aarch64-gstreamer");
    let version = output(Command::new("dpkg-query").args(["-W", "-f=${Version}", PLUGINS_BASE_RUNTIME]))?;
    let stamp = dir.join(".version");
    if std::fs::read_to_string(&stamp).is_ok_and(|v| v == version) {
        return Ok(dir);
    }
    eprintln!("xtask: unpacking the arm64 .pc files of {PLUGINS_BASE_DEV} {version}");
    let _ = std::fs::remove_dir_all(&dir);
    let download = dir.join("download");
    std::fs::create_dir_all(&download).map_err(|e| format!("{}: {e}", download.display()))?;
    run(Command::new("apt-get")
        .args(["download", "-qq", "-o", "APT::Sandbox::User=root", &format!("{PLUGINS_BASE_DEV}:arm64={version}")])
        .current_dir(&download))?;
    let deb = std::fs::read_dir(&download)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    let unpacked = dir.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let (pkgconfig, lib) = (dir.join("pkgconfig"), dir.join("lib"));
    for d in [&pkgconfig, &lib] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let libdir = unpacked.join(ARM64_LIBDIR.trim_start_matches('/'));
    for entry in std::fs::read_dir(libdir.join("pkgconfig")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        std::fs::copy(&path, pkgconfig.join(path.file_name().unwrap())).map_err(|e| e.to_string())?;
    }
    for entry in std::fs::read_dir(&libdir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let (true, Ok(target)) = (name.ends_with(".so"), std::fs::read_link(&path)) {
            // Only the libraries whose arm64 runtime is installed (not GL, for one).
            let real = Path::new(ARM64_LIBDIR).join(target);
            if real.exists() {
                std::os::unix::fs::symlink(&real, lib.join(&name)).map_err(|e| format!("{name}: {e}"))?;
            }
        }
    }
    for needed in ["libgstapp-1.0.so", "libgstvideo-1.0.so"] {
        if !lib.join(needed).exists() {
            return Err(format!("no arm64 {needed}: is {PLUGINS_BASE_RUNTIME} installed?"));
        }
    }
    std::fs::write(&stamp, &version).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// cargo, set up for the aarch64 target: cross linker and C compiler, arm64 pkg-config, qemu.
fn cargo_cross(shim: &Path) -> Command {
    let mut c = cargo();
    let var = |name: &str| format!("CARGO_TARGET_{TARGET_ENV}_{name}");
    c.env(var("LINKER"), "aarch64-linux-gnu-gcc")
        .env(var("RUNNER"), QEMU.join(" "))
        .env(var("RUSTFLAGS"), format!("-L native={}", shim.join("lib").display()))
        .env("CC_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-gcc")
        .env("AR_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-ar")
        .env("PKG_CONFIG_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-pkg-config")
        .env("PKG_CONFIG_PATH_aarch64_unknown_linux_gnu", shim.join("pkgconfig"));
    c
}

/// Builds the daemon for aarch64 (release) and returns the binary.
pub fn build() -> Result<PathBuf> {
    let shim = prepare()?;
    run(cargo_cross(&shim).args(["build", "--release", "--quiet", "--target", TARGET, "--package", "cuebox"]))?;
    let binary = target_dir().join(TARGET).join("release/cuebox");
    if !is_aarch64_elf(&binary)? {
        return Err(format!("{} is not an aarch64 ELF executable", binary.display()));
    }
    Ok(binary)
}

/// The tests of the crates without GStreamer, under qemu-aarch64: every unit test, and the
/// integration tests of QEMU_INTEGRATION (all of a binary's when its list is empty).
pub fn test() -> Result {
    let shim = prepare()?;
    // Every run names the same packages, so that features resolve alike and nothing is rebuilt.
    let tests_of = |selection: &[&str]| {
        let mut c = cargo_cross(&shim);
        c.args(["test", "--release", "--target", TARGET]).args(selection);
        for krate in QEMU_TESTED {
            c.args(["--package", krate]);
        }
        c
    };
    run(&mut tests_of(&["--lib"]))?;
    for (binary, tests) in QEMU_INTEGRATION {
        let mut c = tests_of(&["--test", binary]);
        if !tests.is_empty() {
            c.args(["--", "--exact"]).args(*tests);
        }
        run(&mut c)?;
    }
    Ok(())
}

/// The aarch64 daemon under qemu: `check-config` accepts the appliance config (exit 0) and
/// refuses a bad one (exit 2). No pipeline is started (GStreamer hangs under qemu-user).
pub fn smoke(binary: &Path) -> Result {
    let bad = target_dir().join("cross-bad-config.toml");
    std::fs::write(&bad, "[capture]\nfps = \"thirty\"\n[speakers]\n").map_err(|e| e.to_string())?;
    let good = root().join("systemd/cuebox.toml");
    for (config, expected) in [(&good, 0), (&bad, 2)] {
        let out = Command::new(QEMU[0])
            .args(&QEMU[1..])
            .arg(binary)
            .args(["check-config", "--config"])
            .arg(config)
            .output()
            .map_err(|e| format!("{}: {e}", QEMU[0]))?;
        if out.status.code() != Some(expected) {
            return Err(format!(
                "aarch64 `cuebox check-config --config {}` exited with {}, not {expected}: {}",
                config.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    println!("cross: the aarch64 daemon runs under qemu (check-config: appliance config valid, bad config refused)");
    Ok(())
}

/// Whether FILE starts with an ELF header for a 64-bit little-endian AArch64 executable.
pub fn is_aarch64_elf(file: &Path) -> Result<bool> {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(file)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(header[..4] == *b"\x7fELF" && header[4] == 2 && header[5] == 1 && header[18..20] == [0xb7, 0])
}
