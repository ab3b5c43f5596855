//! The Yocto layer's generated files and checks: `cargo xtask yocto-crates [--check]`, and the
//! oelint-adv, bitbake-parser and kas-schema checks that `cargo xtask test` runs.
//!
//! `yocto-crates` writes two include files of yocto/meta-cuebox from the workspace:
//! - `cuebox-crates.inc`: every crates.io package of Cargo.lock as a `crate://` SRC_URI with its
//!   sha256, in the format of OE-core's `bitbake -c update_crates` (cargo-update-recipe-crates);
//! - `cuebox-models-files.inc`: the model files named in models/SHA256SUMS (not its cache/).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, output, root};

const LAYER: &str = "yocto/meta-cuebox";
const CRATES_INC: &str = "yocto/meta-cuebox/recipes-cuebox/cuebox/cuebox-crates.inc";
const MODELS_INC: &str = "yocto/meta-cuebox/recipes-cuebox/cuebox-models/cuebox-models-files.inc";
/// The release the layer is written for (LAYERSERIES_COMPAT) and linted against.
const RELEASE: &str = "blacksail";

/// `cargo xtask yocto-crates [--check]`.
pub fn crates_command(args: &[String]) -> Result {
    match args {
        [] => write_generated(),
        [flag] if flag == "--check" => check_generated(),
        _ => Err("usage: cargo xtask yocto-crates [--check]".into()),
    }
}

fn generated() -> Result<Vec<(&'static str, String)>> {
    let lock = read(&root().join("Cargo.lock"))?;
    let sums = read(&root().join("models/SHA256SUMS"))?;
    Ok(vec![(CRATES_INC, crates_inc(&lock)?), (MODELS_INC, models_inc(&sums)?)])
}

fn write_generated() -> Result {
    for (path, text) in generated()? {
        let file = root().join(path);
        if std::fs::read_to_string(&file).is_ok_and(|old| old == text) {
            continue;
        }
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("xtask: wrote {path}");
    }
    Ok(())
}

/// Fails when a generated file differs from what Cargo.lock and models/SHA256SUMS give now.
pub fn check_generated() -> Result {
    for (path, text) in generated()? {
        let old = std::fs::read_to_string(root().join(path)).unwrap_or_default();
        compare(path, &old, &text)?;
    }
    Ok(())
}

fn compare(path: &str, old: &str, new: &str) -> Result {
    if old == new {
        return Ok(());
    }
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let gone: Vec<&str> = old_lines.iter().filter(|l| !new_lines.contains(l)).take(3).copied().collect();
    let added: Vec<&str> = new_lines.iter().filter(|l| !old_lines.contains(l)).take(3).copied().collect();
    Err(format!(
        "{path} is out of date (run `cargo xtask yocto-crates`): it has {:?}, the sources give {:?}",
        gone, added
    ))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One `[[package]]` of Cargo.lock.
#[derive(Debug, Default)]
struct Package {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// The packages of a Cargo.lock (a flat TOML file: only `[[package]]` tables with string keys
/// matter here).
fn lock_packages(lock: &str) -> Result<Vec<Package>> {
    let mut packages = Vec::new();
    let mut current: Option<Package> = None;
    for (n, line) in lock.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            packages.extend(current.take());
            if line == "[[package]]" {
                current = Some(Package::default());
            }
            continue;
        }
        let (Some(package), Some((key, value))) = (current.as_mut(), line.split_once(" = ")) else { continue };
        let string = || -> Result<String> {
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
                .ok_or_else(|| format!("Cargo.lock:{}: {key} is not a plain string", n + 1))
        };
        match key {
            "name" => package.name = string()?,
            "version" => package.version = string()?,
            "source" => package.source = Some(string()?),
            "checksum" => package.checksum = Some(string()?),
            _ => {}
        }
    }
    packages.extend(current);
    if let Some(p) = packages.iter().find(|p| p.name.is_empty() || p.version.is_empty()) {
        return Err(format!("Cargo.lock has a package without name or version: {p:?}"));
    }
    Ok(packages)
}

/// The crates include file, as OE-core's `do_update_crates` writes it.
fn crates_inc(lock: &str) -> Result<String> {
    let packages = lock_packages(lock)?;
    let mut uris = String::new();
    let mut sums = String::new();
    for p in &packages {
        let Some(source) = &p.source else { continue }; // a workspace member
        if !source.contains("crates.io") {
            return Err(format!(
                "{} {} comes from {source}: the Yocto recipe fetches crates.io packages only",
                p.name, p.version
            ));
        }
        let Some(checksum) = &p.checksum else {
            return Err(format!("{} {} has no checksum in Cargo.lock", p.name, p.version));
        };
        let key = format!("{}-{}", p.name, p.version);
        uris.push_str(&format!("\n    crate://crates.io/{}/{};name={key} \\", p.name, p.version));
        sums.push_str(&format!("\nSRC_URI[{key}.sha256sum] = \"{checksum}\""));
    }
    if uris.is_empty() {
        return Err("Cargo.lock lists no crates.io package".into());
    }
    Ok(format!(
        "# Autogenerated with 'cargo xtask yocto-crates' from Cargo.lock; do not edit.\n\
         # (Same format as OE-core's 'bitbake -c update_crates'.)\n\n\
         # from Cargo.lock\nSRC_URI += \"\\{uris}\n\"\n{sums}\n"
    ))
}

/// The model files the models recipe installs: models/SHA256SUMS without the cache/ wheels.
fn models_inc(sums: &str) -> Result<String> {
    let mut names = Vec::new();
    for (n, line) in sums.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((sum, name)) = line.split_once("  ") else {
            return Err(format!("models/SHA256SUMS:{}: expected `SHA256  NAME`", n + 1));
        };
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("models/SHA256SUMS:{}: {sum:?} is not a sha256", n + 1));
        }
        if name.starts_with("cache/") {
            continue;
        }
        if name.contains('/') || name.contains(char::is_whitespace) {
            return Err(format!("models/SHA256SUMS:{}: {name:?} must be a plain file name", n + 1));
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err("models/SHA256SUMS names no model".into());
    }
    let list: String = names.iter().map(|n| format!("\n    {n} \\")).collect();
    let uris: String = names.iter().map(|n| format!("\n    file://{n} \\")).collect();
    Ok(format!(
        "# Autogenerated with 'cargo xtask yocto-crates' from models/SHA256SUMS; do not edit.\n\n\
         CUEBOX_MODELS = \"\\{list}\n\"\n\nSRC_URI += \"\\{uris}\n\"\n"
    ))
}

/// oelint-adv over every recipe and configuration file of the layer, against [`RELEASE`].
pub fn lint(tools: &Path) -> Result {
    let layer = root().join(LAYER);
    let mut files = Vec::new();
    collect(&layer, &mut files)?;
    files.retain(|f| {
        let name = f.to_string_lossy();
        [".bb", ".bbappend", ".inc", ".bbclass", ".conf"].iter().any(|ext| name.ends_with(ext))
    });
    files.sort();
    let oelint = tools.join("oelint-adv");
    let out = Command::new(&oelint)
        .args(["--quiet", "--mode", "all", "--jobs", "1", "--relpaths", "--release", RELEASE])
        // This rule fetches HOMEPAGE over the network, which these machines do not reach.
        .args(["--suppress", "oelint.vars.homepageping"])
        .args(&files)
        .current_dir(root())
        .output()
        .map_err(|e| format!("{}: {e}", oelint.display()))?;
    let findings = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() || !findings.trim().is_empty() {
        return Err(format!("oelint-adv found problems in {LAYER}:\n{}", findings.trim_end()));
    }
    println!("appliance: oelint-adv --release {RELEASE}: {} files, no findings", files.len());
    Ok(())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() { collect(&path, files)? } else { files.push(path) }
    }
    Ok(())
}

/// bitbake's own parser (the `bb` library of the bitbake-setup wheel) over the layer, and the
/// kas file against kas's schema; both scripts live in yocto/tests/.
pub fn parse(python: &Path) -> Result {
    let tests = root().join("yocto/tests");
    let out = output(Command::new(python).arg(tests.join("bitbake_parse.py")).arg(root().join(LAYER)).arg(root()))?;
    print!("{out}");
    let out = output(Command::new(python).arg(tests.join("kas_schema.py")).arg(root().join("yocto/kas")))?;
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "adler2"
version = "2.0.1"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "320119579fcad9c21884f5c4861d16174d0e06250625266f50fe6898340abefa"

[[package]]
name = "cuebox"
version = "0.1.0"
dependencies = [
 "adler2",
]

[[package]]
name = "zerocopy"
version = "0.8.27"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "0894878a5fa3edfd6da3f88c4805f4c8558e2b996227a3d864f47fe11e38282c"
"#;

    #[test]
    fn crates_inc_lists_registry_crates_with_their_checksums() {
        let inc = crates_inc(LOCK).unwrap();
        assert!(inc.contains("    crate://crates.io/adler2/2.0.1;name=adler2-2.0.1 \\\n"), "{inc}");
        assert!(inc.contains(
            "SRC_URI[zerocopy-0.8.27.sha256sum] = \"0894878a5fa3edfd6da3f88c4805f4c8558e2b996227a3d864f47fe11e38282c\""
        ));
        assert!(!inc.contains("cuebox"), "workspace members are not fetched: {inc}");
    }

    #[test]
    fn the_check_fails_when_cargo_lock_changes() {
        let inc = crates_inc(LOCK).unwrap();
        compare("x.inc", &inc, &crates_inc(LOCK).unwrap()).unwrap();
        let bumped = LOCK.replace("0.8.27", "0.8.28");
        let error = compare("x.inc", &inc, &crates_inc(&bumped).unwrap()).unwrap_err();
        assert!(error.contains("zerocopy/0.8.28") && error.contains("out of date"), "{error}");
        let added = format!(
            "{LOCK}\n[[package]]\nname = \"zstd\"\nversion = \"0.13.3\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"\n",
            "e".repeat(64)
        );
        assert!(compare("x.inc", &inc, &crates_inc(&added).unwrap()).is_err());
    }

    #[test]
    fn git_sources_and_missing_checksums_are_refused() {
        let git = LOCK.replace(
            "registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"0894",
            "git+https://example.org/zerocopy#abc\"\nchecksum = \"0894",
        );
        assert!(crates_inc(&git).unwrap_err().contains("crates.io packages only"));
        let unsummed =
            LOCK.replace("checksum = \"320119579fcad9c21884f5c4861d16174d0e06250625266f50fe6898340abefa\"\n", "");
        assert!(crates_inc(&unsummed).unwrap_err().contains("no checksum"));
    }

    #[test]
    fn models_inc_skips_the_cache_and_checks_lines() {
        let sha = "a".repeat(64);
        let sums = format!("{sha}  cache/x.whl\n{sha}  efficientnet-lite0.onnx\n{sha}  e5.tokenizer.json\n");
        let inc = models_inc(&sums).unwrap();
        assert!(inc.contains("    efficientnet-lite0.onnx \\\n    e5.tokenizer.json \\\n\"\n"), "{inc}");
        assert!(inc.contains("file://e5.tokenizer.json"));
        assert!(!inc.contains("x.whl"));
        assert!(models_inc("nonsense\n").is_err());
        assert!(models_inc(&format!("{sha}  cache/x.whl\n")).is_err());
    }

    #[test]
    fn the_committed_include_files_are_up_to_date() {
        check_generated().unwrap();
    }
}
