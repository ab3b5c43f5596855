//! `cargo xtask deb [--arch amd64|arm64]`: a Debian package for Debian-based boxes (Raspberry Pi
//! OS, Armbian, Debian), with the same units, config layout and models as the Yocto image.
//!
//! Built with Debian's own tools (dpkg-deb, and dpkg-shlibdeps for the library dependencies), so
//! nothing else has to be installed or compiled. `--arch arm64` uses the `cargo xtask cross`
//! build. The package lands in target/debian/.
//!
//! Layout:
//!   /usr/bin/cuebox                                   the daemon
//!   /usr/libexec/cuebox/cuebox-firstboot              first-boot provisioning
//!   /usr/lib/systemd/system/cuebox.service, cuebox-firstboot.service
//!   /usr/lib/systemd/system/mosquitto.service.d/cuebox.conf
//!   /usr/lib/sysusers.d/cuebox.conf                   the cuebox user (group video)
//!   /etc/cuebox/cuebox.toml, mosquitto.conf, mosquitto.acl   (conffiles)
//!   /usr/share/cuebox/models/...                      the models of models/SHA256SUMS
//!   /usr/share/cuebox/demo/...                        the demo catalog, photos and clips
//!   /usr/share/doc/cuebox/...

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cargo, cross, output, root, run, sha256};

const REVISION: &str = "1";
/// The package's Maintainer field (lintian wants a reachable address).
const MAINTAINER: &str = "Cuebox developers <cuebox@localhost>";
/// Lintian tags that do not apply: a Rust YAML parser looks like libyaml to it, the tokenizer
/// holds non-ASCII text on purpose, the manual is docs/contract.md, the package is not uploaded
/// to Debian (no bug to close); the address above is a stand-in until the project has one.
const LINTIAN_ACCEPTED: &str = "embedded-library,national-encoding,no-manual-page,initial-upload-closes-no-bugs,\
                                bogus-mail-host,bogus-mail-host-in-debian-changelog";
const CONFFILES: &[&str] = &["/etc/cuebox/cuebox.toml", "/etc/cuebox/mosquitto.conf", "/etc/cuebox/mosquitto.acl"];
/// Runtime packages beyond the shared libraries dpkg-shlibdeps finds.
const DEPENDS: &str = "gstreamer1.0-plugins-base, gstreamer1.0-plugins-good, mosquitto, systemd";
/// H.264 decoding for RTSP cameras and the demo clips, tools for cameras and the broker.
const RECOMMENDS: &str = "gstreamer1.0-libav, v4l-utils, mosquitto-clients";

/// `cargo xtask deb [--arch amd64|arm64]`.
pub fn command(args: &[String]) -> Result {
    let host = host_arch()?;
    let arch = match args {
        [] => host.clone(),
        [flag, arch] if flag == "--arch" && (arch == "amd64" || arch == "arm64") => arch.clone(),
        _ => return Err("usage: cargo xtask deb [--arch amd64|arm64]".into()),
    };
    let binary = if arch == "arm64" && host != "arm64" {
        cross::build()?
    } else if arch == host {
        run(cargo().args(["build", "--release", "--quiet", "--package", "cuebox"]))?;
        cross::target_dir().join("release/cuebox")
    } else {
        return Err(format!("cannot build a {arch} package on {host}"));
    };
    let deb = build(&binary, &arch)?;
    verify(&deb, &arch)?;
    println!("{}", deb.display());
    Ok(())
}

pub fn host_arch() -> Result<String> {
    Ok(output(Command::new("dpkg").arg("--print-architecture"))?.trim().to_owned())
}

fn version() -> Result<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).map_err(|e| e.to_string())?;
    let section = manifest.split("[workspace.package]").nth(1).ok_or("Cargo.toml has no [workspace.package]")?;
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_owned)
        .ok_or_else(|| "Cargo.toml [workspace.package] has no version".into())
}

fn io<T>(what: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| format!("{}: {e}", what.display()))
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result {
    use std::os::unix::fs::PermissionsExt;
    io(to, std::fs::create_dir_all(to.parent().unwrap()))?;
    io(from, std::fs::copy(from, to))?;
    io(to, std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)))
}

fn copy_tree(from: &Path, to: &Path) -> Result {
    for entry in io(from, std::fs::read_dir(from))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().unwrap();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() { copy_tree(&path, &to.join(name))? } else { copy(&path, &to.join(name), 0o644)? }
    }
    Ok(())
}

/// The model files of models/SHA256SUMS (not its cache/), each checked against its sha256.
fn models() -> Result<Vec<PathBuf>> {
    let sums = std::fs::read_to_string(root().join("models/SHA256SUMS")).map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for (sum, name) in sums.lines().filter_map(|l| l.split_once("  ")) {
        if name.starts_with("cache/") {
            continue;
        }
        let file = root().join("models").join(name);
        if !file.exists() || sha256(&file)? != sum {
            return Err(format!(
                "{} is missing or differs from models/SHA256SUMS: run `cargo xtask setup`",
                file.display()
            ));
        }
        files.push(file);
    }
    Ok(files)
}

/// Stages the package under target/debian/ARCH and builds target/debian/cuebox_V-R_ARCH.deb.
pub fn build(binary: &Path, arch: &str) -> Result<PathBuf> {
    let out = cross::target_dir().join("debian");
    let work = out.join(arch);
    let _ = std::fs::remove_dir_all(&work);
    let pkg = work.join("debian/cuebox");
    let repo = root();
    let systemd = repo.join("systemd");

    copy(binary, &pkg.join("usr/bin/cuebox"), 0o755)?;
    let strip = if arch == "arm64" { "aarch64-linux-gnu-strip" } else { "strip" };
    run(Command::new(strip)
        .args(["--remove-section=.comment", "--remove-section=.note", "--strip-unneeded"])
        .arg(pkg.join("usr/bin/cuebox")))?;
    copy(&systemd.join("cuebox-firstboot"), &pkg.join("usr/libexec/cuebox/cuebox-firstboot"), 0o755)?;
    let units = pkg.join("usr/lib/systemd/system");
    copy(&systemd.join("cuebox.service"), &units.join("cuebox.service"), 0o644)?;
    copy(&systemd.join("cuebox-firstboot.service"), &units.join("cuebox-firstboot.service"), 0o644)?;
    copy(&systemd.join("mosquitto.service.d/cuebox.conf"), &units.join("mosquitto.service.d/cuebox.conf"), 0o644)?;
    copy(&systemd.join("cuebox.sysusers"), &pkg.join("usr/lib/sysusers.d/cuebox.conf"), 0o644)?;
    copy(&systemd.join("cuebox-panel.rules"), &pkg.join("usr/lib/udev/rules.d/70-cuebox-panel.rules"), 0o644)?;
    copy(&systemd.join("cuebox.toml"), &pkg.join("etc/cuebox/cuebox.toml"), 0o644)?;
    copy(&systemd.join("mosquitto/cuebox.conf"), &pkg.join("etc/cuebox/mosquitto.conf"), 0o644)?;
    copy(&systemd.join("mosquitto/cuebox.acl"), &pkg.join("etc/cuebox/mosquitto.acl"), 0o644)?;
    for model in models()? {
        copy(&model, &pkg.join("usr/share/cuebox/models").join(model.file_name().unwrap()), 0o644)?;
    }
    let demo = pkg.join("usr/share/cuebox/demo");
    copy(&repo.join("demo/catalog.yaml"), &demo.join("catalog.yaml"), 0o644)?;
    for folder in ["images", "clips"] {
        let from = repo.join("demo").join(folder);
        if !from.is_dir() {
            return Err(format!("{} is missing: run `cargo xtask setup`", from.display()));
        }
        copy_tree(&from, &demo.join(folder))?;
    }
    let doc = pkg.join("usr/share/doc/cuebox");
    copy(&repo.join("README.md"), &doc.join("README.md"), 0o644)?;
    copy(&repo.join("docs/contract.md"), &doc.join("contract.md"), 0o644)?;
    let copyright = doc.join("copyright");
    io(&copyright, std::fs::write(&copyright, COPYRIGHT))?;
    let changelog = doc.join("changelog.Debian");
    // The date of the last commit, so that the same commit gives the same changelog.
    let date = output(Command::new("git").args(["log", "-1", "--format=%cD"]).current_dir(&repo))
        .or_else(|_| output(Command::new("date").arg("-R").env("LC_ALL", "C")))?;
    io(
        &changelog,
        std::fs::write(
            &changelog,
            format!(
                "cuebox ({}-{REVISION}) unstable; urgency=medium\n\n  * Built by `cargo xtask deb`.\n\n -- {MAINTAINER}  {}\n",
                version()?,
                date.trim()
            ),
        ),
    )?;
    run(Command::new("gzip").args(["-9", "-n", "-f"]).arg(&changelog))?;

    // Library dependencies of the binary, as dpkg-shlibdeps finds them for ARCH.
    let control_dir = work.join("debian");
    io(
        &control_dir,
        std::fs::write(control_dir.join("control"), "Source: cuebox\n\nPackage: cuebox\nArchitecture: any\n"),
    )?;
    let shlibs = output(
        Command::new("dpkg-shlibdeps")
            .args(["-O", "--warnings=0", "debian/cuebox/usr/bin/cuebox"])
            .env("DEB_HOST_ARCH", arch)
            .current_dir(&work),
    )?;
    let shlibs = shlibs
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .ok_or_else(|| format!("dpkg-shlibdeps gave no dependencies: {shlibs}"))?;

    let version = format!("{}-{REVISION}", version()?);
    let installed_kb = tree_size(&pkg)? / 1024 + 1;
    let control = format!(
        "Package: cuebox\nVersion: {version}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n\
         Installed-Size: {installed_kb}\nDepends: {shlibs}, {DEPENDS}\nRecommends: {RECOMMENDS}\n\
         Section: video\nPriority: optional\n\
         Description: product recognition and host cues for live-commerce studios\n \
         Cuebox watches a camera line, recognizes the product a host holds up\n \
         and cues the host, the stream overlay and integrations over MQTT.\n \
         This package runs it as an appliance: a hardened systemd service,\n \
         first-boot provisioning from a USB stick or the boot partition, and a\n \
         mosquitto configuration with MQTT and WebSocket listeners.\n"
    );
    let debian = pkg.join("DEBIAN");
    io(&debian, std::fs::create_dir_all(&debian))?;
    io(&debian, std::fs::write(debian.join("control"), control))?;
    io(&debian, std::fs::write(debian.join("conffiles"), CONFFILES.join("\n") + "\n"))?;
    for script in ["postinst", "prerm", "postrm"] {
        copy(&systemd.join("deb").join(script), &debian.join(script), 0o755)?;
    }
    let deb = out.join(format!("cuebox_{version}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&pkg)
        .arg(&deb)
        .stdout(std::process::Stdio::null()))?;
    Ok(deb)
}

fn tree_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in io(dir, std::fs::read_dir(dir))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let meta = entry.metadata().map_err(|e| e.to_string())?;
        total += if meta.is_dir() { tree_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

/// Checks a built package: its fields, its files and modes, its conffiles, the architecture of
/// its binary and its maintainer scripts.
pub fn verify(deb: &Path, arch: &str) -> Result {
    let field = |name: &str| -> Result<String> {
        Ok(output(Command::new("dpkg-deb").args(["--field"]).arg(deb).arg(name))?.trim().to_owned())
    };
    if field("Package")? != "cuebox" || field("Architecture")? != arch {
        return Err(format!("{}: wrong Package or Architecture", deb.display()));
    }
    let depends = field("Depends")?;
    for needed in
        ["libc6", "libgstreamer1.0-0", "libgstreamer-plugins-base1.0-0", "mosquitto", "gstreamer1.0-plugins-good"]
    {
        if !depends.split(',').any(|d| d.trim().starts_with(needed)) {
            return Err(format!("{}: Depends lacks {needed}: {depends}", deb.display()));
        }
    }
    let contents = output(Command::new("dpkg-deb").arg("--contents").arg(deb))?;
    let entry =
        |path: &str| contents.lines().find(|l| l.ends_with(&format!(" .{path}")) || l.contains(&format!(" .{path} ")));
    let mut wanted = vec![
        ("/usr/bin/cuebox", "-rwxr-xr-x root/root"),
        ("/usr/libexec/cuebox/cuebox-firstboot", "-rwxr-xr-x root/root"),
        ("/usr/lib/systemd/system/cuebox.service", "-rw-r--r-- root/root"),
        ("/usr/lib/systemd/system/cuebox-firstboot.service", "-rw-r--r-- root/root"),
        ("/usr/lib/systemd/system/mosquitto.service.d/cuebox.conf", "-rw-r--r-- root/root"),
        ("/usr/lib/sysusers.d/cuebox.conf", "-rw-r--r-- root/root"),
        ("/usr/lib/udev/rules.d/70-cuebox-panel.rules", "-rw-r--r-- root/root"),
        ("/usr/share/cuebox/demo/catalog.yaml", "-rw-r--r-- root/root"),
        ("/usr/share/doc/cuebox/copyright", "-rw-r--r-- root/root"),
    ];
    let model_paths: Vec<String> = models()?
        .iter()
        .map(|m| format!("/usr/share/cuebox/models/{}", m.file_name().unwrap().to_string_lossy()))
        .collect();
    wanted.extend(model_paths.iter().map(|m| (m.as_str(), "-rw-r--r-- root/root")));
    wanted.extend(CONFFILES.iter().map(|c| (*c, "-rw-r--r-- root/root")));
    for (path, mode) in wanted {
        match entry(path) {
            Some(line) if line.starts_with(mode) => {}
            Some(line) => return Err(format!("{}: {path} is `{line}`, expected {mode}", deb.display())),
            None => return Err(format!("{}: {path} is missing", deb.display())),
        }
    }
    let unpacked = cross::target_dir().join("debian").join(format!("verify-{arch}"));
    let _ = std::fs::remove_dir_all(&unpacked);
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&unpacked))?;
    let conffiles = std::fs::read_to_string(unpacked.join("DEBIAN/conffiles")).map_err(|e| e.to_string())?;
    if conffiles.lines().collect::<Vec<_>>() != CONFFILES {
        return Err(format!("{}: conffiles are {conffiles:?}", deb.display()));
    }
    let binary = unpacked.join("usr/bin/cuebox");
    if cross::is_aarch64_elf(&binary)? != (arch == "arm64") {
        return Err(format!("{}: usr/bin/cuebox is not built for {arch}", deb.display()));
    }
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(unpacked.join("DEBIAN").join(script)))?;
    }
    let lintian = Command::new("lintian")
        .args(["--suppress-tags", LINTIAN_ACCEPTED])
        .arg(deb)
        .output()
        .map_err(|e| format!("lintian: {e}"))?;
    let said = String::from_utf8_lossy(&lintian.stdout);
    let tags: Vec<&str> = said.lines().filter(|l| l.starts_with("E: ") || l.starts_with("W: ")).collect();
    if !tags.is_empty() {
        return Err(format!("lintian on {}:\n{}", deb.display(), tags.join("\n")));
    }
    let size = std::fs::metadata(deb).map_err(|e| e.to_string())?.len();
    println!("deb: {} ({:.1} MB): layout, conffiles, dependencies and lintian ok", deb.display(), size as f64 / 1e6);
    Ok(())
}

const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: cuebox
Comment: The binary statically links Rust crates from crates.io under their own licenses
 (MIT, Apache-2.0, BSD, Unicode, Zlib, ISC); models/README.md in the sources lists the models'
 origins and licenses (EfficientNet-Lite0 weights, MediaPipe palm detector and PaddleOCR's
 PP-OCRv6 text detection, recognition and orientation models: Apache-2.0; multilingual-e5-small:
 MIT).

Files: *
Copyright: 2026 The Cuebox developers
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
";
