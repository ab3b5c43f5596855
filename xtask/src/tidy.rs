//! The "knows nothing of" rules of ARCHITECTURE.md (Invariants), checked against
//! `cargo metadata` in the style of rust-analyzer's tidy tests: `cargo test` fails when a crate's
//! normal dependencies (not dev or build dependencies), followed to the end, hold a crate that
//! the crate must not know.
//!
//! The checker is a pure function of the parsed metadata (and of the text of the crates' library
//! roots, for the `no_std` rule), so its own tests run it on small made-up workspaces.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate name a rule forbids.
#[derive(Clone, Copy, Debug)]
enum Name {
    Exact(&'static str),
    Prefix(&'static str),
}

impl Name {
    fn matches(self, name: &str) -> bool {
        match self {
            Name::Exact(exact) => name == exact,
            Name::Prefix(prefix) => name.starts_with(prefix),
        }
    }
}

use Name::{Exact, Prefix};

const TRACT: &[Name] = &[Exact("tract"), Prefix("tract-")];
const MQTT: &[Name] = &[Prefix("rumqtt"), Prefix("mqtt"), Prefix("paho-mqtt")];
const GSTREAMER: &[Name] = &[Prefix("gstreamer")];
const TOKIO: &[Name] = &[Exact("tokio"), Prefix("tokio-")];
const LINUX: &[Name] = &[Prefix("linux-")];

/// What one crate of the workspace must not know.
struct Rule {
    krate: &'static str,
    /// Crates its normal dependency closure must not hold, by kind.
    forbidden: &'static [(&'static str, &'static [Name])],
    /// `#![no_std]` in its lib.rs, and every crate it builds on usable without std.
    no_std: bool,
}

/// The rules, as ARCHITECTURE.md states them under Invariants.
const RULES: &[Rule] = &[
    Rule { krate: "cuebox-capture", forbidden: &[("tract", TRACT), ("MQTT", MQTT)], no_std: false },
    Rule {
        krate: "cuebox-vision",
        forbidden: &[("GStreamer", GSTREAMER), ("tokio", TOKIO), ("MQTT", MQTT)],
        no_std: false,
    },
    Rule { krate: "cuebox-catalog", forbidden: &[("GStreamer", GSTREAMER), ("MQTT", MQTT)], no_std: false },
    Rule { krate: "cuebox-panel", forbidden: &[("tokio", TOKIO), ("Linux", LINUX)], no_std: true },
];

/// The parts of `cargo metadata --format-version 1` the rules need.
#[derive(Debug, Default)]
pub struct Metadata {
    packages: BTreeMap<String, Package>,
    /// Package id to the ids of its normal dependencies, as resolved.
    normal_deps: BTreeMap<String, Vec<String>>,
}

#[derive(Debug)]
struct Package {
    name: String,
    /// The library root (lib.rs), if the package has a library.
    lib: Option<PathBuf>,
    proc_macro: bool,
    /// The package's feature table: a feature and what it turns on.
    features: BTreeMap<String, Vec<String>>,
    /// Its declared normal dependencies: package name, features asked for, default features on.
    dependencies: Vec<(String, Vec<String>, bool)>,
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

fn field<'a>(value: &'a serde_json::Value, key: &str) -> Result<&'a str, String> {
    value.get(key).and_then(|v| v.as_str()).ok_or_else(|| format!("cargo metadata: no string `{key}`"))
}

/// Whether a `dep_kinds` entry (or a dependency declaration's `kind`) is a normal dependency.
fn is_normal(value: &serde_json::Value) -> bool {
    value.get("kind").is_none_or(serde_json::Value::is_null)
}

impl Metadata {
    pub fn parse(json: &str) -> Result<Metadata, String> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("cargo metadata: {e}"))?;
        let mut metadata = Metadata::default();
        for package in value.get("packages").and_then(|p| p.as_array()).into_iter().flatten() {
            let targets = package.get("targets").and_then(|t| t.as_array()).map(Vec::as_slice).unwrap_or_default();
            let kinds = |target: &serde_json::Value| strings(target.get("kind").unwrap_or(&serde_json::Value::Null));
            let lib = targets.iter().find(|t| kinds(t).iter().any(|k| k.ends_with("lib") || k == "proc-macro"));
            let features = package
                .get("features")
                .and_then(|f| f.as_object())
                .into_iter()
                .flatten()
                .map(|(name, turns_on)| (name.clone(), strings(turns_on)))
                .collect();
            let dependencies = package
                .get("dependencies")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
                .filter(|d| is_normal(d))
                .map(|d| {
                    let name = field(d, "name")?.to_owned();
                    let default = d.get("uses_default_features").and_then(|u| u.as_bool()).unwrap_or(true);
                    Ok((name, strings(d.get("features").unwrap_or(&serde_json::Value::Null)), default))
                })
                .collect::<Result<_, String>>()?;
            metadata.packages.insert(
                field(package, "id")?.to_owned(),
                Package {
                    name: field(package, "name")?.to_owned(),
                    lib: lib.map(|t| field(t, "src_path").map(PathBuf::from)).transpose()?,
                    proc_macro: lib.is_some_and(|t| kinds(t).iter().any(|k| k == "proc-macro")),
                    features,
                    dependencies,
                },
            );
        }
        let nodes = value.pointer("/resolve/nodes").and_then(|n| n.as_array()).ok_or("cargo metadata: no resolve")?;
        for node in nodes {
            let deps = node
                .get("deps")
                .and_then(|d| d.as_array())
                .into_iter()
                .flatten()
                .filter(|dep| dep.get("dep_kinds").and_then(|k| k.as_array()).into_iter().flatten().any(is_normal))
                .map(|dep| field(dep, "pkg").map(str::to_owned))
                .collect::<Result<_, String>>()?;
            metadata.normal_deps.insert(field(node, "id")?.to_owned(), deps);
        }
        Ok(metadata)
    }

    /// The package ids of `name`'s normal dependency closure, each with the packages that depend
    /// on it there. A procedural macro runs on the host at build time: it is in the closure, what
    /// it builds on is not.
    fn closure(&self, name: &str) -> Option<BTreeMap<&str, BTreeSet<&str>>> {
        let root = self.packages.iter().find(|(_, p)| p.name == name).map(|(id, _)| id.as_str())?;
        let mut reached: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut todo = vec![root];
        while let Some(id) = todo.pop() {
            for dep in self.normal_deps.get(id).into_iter().flatten() {
                let first = !reached.contains_key(dep.as_str());
                reached.entry(dep.as_str()).or_default().insert(id);
                if first && !self.packages.get(dep).is_some_and(|p| p.proc_macro) {
                    todo.push(dep);
                }
            }
        }
        Some(reached)
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.packages.get(id).map_or(id, |p| p.name.as_str())
    }

    /// Whether `parent` turns on the `std` feature of `child`, through the features it asks for
    /// (its default features included) and what they turn on in turn.
    fn turns_on_std(&self, parent: &str, child: &str) -> bool {
        let (Some(parent), Some(child)) = (self.packages.get(parent), self.packages.get(child)) else {
            return false;
        };
        let mut todo: Vec<&str> = parent
            .dependencies
            .iter()
            .filter(|(name, _, _)| *name == child.name)
            .flat_map(|(_, features, default)| features.iter().map(String::as_str).chain(default.then_some("default")))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(feature) = todo.pop() {
            if feature == "std" {
                return true;
            }
            if seen.insert(feature) {
                todo.extend(child.features.get(feature).into_iter().flatten().map(String::as_str));
            }
        }
        false
    }
}

/// Whether a library root declares `no_std`: `#![no_std]`, or a `cfg_attr` that does, when
/// `any_form`; exactly `#![no_std]` otherwise.
fn declares_no_std(source: &str, any_form: bool) -> bool {
    source
        .lines()
        .map(str::trim)
        .any(|line| line == "#![no_std]" || (any_form && line.starts_with("#![") && line.contains("no_std")))
}

/// Every way the workspace breaks `rules`, one line each; empty when it keeps them all.
/// `read` gives the text of a source file (a library root).
fn violations(metadata: &Metadata, rules: &[Rule], read: &dyn Fn(&Path) -> Option<String>) -> Vec<String> {
    let mut found = Vec::new();
    for rule in rules {
        let Some(closure) = metadata.closure(rule.krate) else {
            found.push(format!("{}: not in the workspace", rule.krate));
            continue;
        };
        let via = |parents: &BTreeSet<&str>| parents.iter().map(|p| metadata.name(p)).collect::<Vec<_>>().join(", ");
        for (id, parents) in &closure {
            let name = metadata.name(id);
            for (kind, names) in rule.forbidden {
                if names.iter().any(|n| n.matches(name)) {
                    found.push(format!("{} depends on {name} ({kind}), through {}", rule.krate, via(parents)));
                }
            }
        }
        if !rule.no_std {
            continue;
        }
        let root = metadata.packages.values().find(|p| p.name == rule.krate);
        let root_source = root.and_then(|p| p.lib.as_deref()).and_then(read);
        if !root_source.is_some_and(|s| declares_no_std(&s, false)) {
            found.push(format!("{}: its lib.rs does not say #![no_std]", rule.krate));
        }
        for (id, parents) in &closure {
            let Some(package) = metadata.packages.get(*id) else { continue };
            if package.proc_macro {
                continue;
            }
            let name = &package.name;
            if !package.lib.as_deref().and_then(read).is_some_and(|s| declares_no_std(&s, true)) {
                found.push(format!("{} depends on {name}, which needs std, through {}", rule.krate, via(parents)));
            }
            for parent in parents.iter().filter(|p| metadata.turns_on_std(p, id)) {
                found.push(format!(
                    "{} depends on {name} with its std feature, through {}",
                    rule.krate,
                    metadata.name(parent)
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crates_know_only_what_architecture_md_lets_them() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1"])
            .current_dir(crate::root())
            .output()
            .expect("cargo metadata runs");
        assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
        let metadata = Metadata::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        let found = violations(&metadata, RULES, &|path| std::fs::read_to_string(path).ok());
        assert!(found.is_empty(), "ARCHITECTURE.md's invariants are broken:\n{}", found.join("\n"));
    }

    /// A made-up package: its name, the kind of its library, its feature table.
    type MadeUpPackage<'a> = (&'a str, &'a str, &'a [(&'a str, &'a [&'a str])]);
    /// A made-up dependency: from, to, its kind, the features asked for, default features on.
    type MadeUpDependency<'a> = (&'a str, &'a str, Option<&'a str>, &'a [&'a str], bool);

    /// A made-up `cargo metadata`.
    fn metadata(packages: &[MadeUpPackage], deps: &[MadeUpDependency]) -> String {
        let id = |name: &str| format!("registry+x#{name}@1.0.0");
        let packages: Vec<_> = packages
            .iter()
            .map(|(name, kind, features)| {
                let declared: Vec<_> = deps
                    .iter()
                    .filter(|d| d.0 == *name)
                    .map(|(_, to, kind, features, default)| {
                        serde_json::json!({"name": to, "kind": kind, "features": features, "uses_default_features": default})
                    })
                    .collect();
                let features: serde_json::Map<_, _> =
                    features.iter().map(|(f, on)| (f.to_string(), serde_json::json!(on))).collect();
                serde_json::json!({
                    "name": name, "id": id(name), "features": features, "dependencies": declared,
                    "targets": [{"kind": [kind], "src_path": format!("/src/{name}/lib.rs")}],
                })
            })
            .collect();
        let nodes: Vec<_> = packages
            .iter()
            .filter_map(|p| p["name"].as_str())
            .map(|name| {
                let deps: Vec<_> = deps
                    .iter()
                    .filter(|d| d.0 == name)
                    .map(|(_, to, kind, _, _)| serde_json::json!({"pkg": id(to), "dep_kinds": [{"kind": kind}]}))
                    .collect();
                serde_json::json!({"id": id(name), "deps": deps})
            })
            .collect();
        serde_json::json!({"packages": packages, "resolve": {"nodes": nodes}}).to_string()
    }

    fn check(json: &str, rules: &[Rule], sources: &[(&str, &str)]) -> Vec<String> {
        let sources: BTreeMap<PathBuf, String> = sources
            .iter()
            .map(|(name, text)| (PathBuf::from(format!("/src/{name}/lib.rs")), text.to_string()))
            .collect();
        violations(&Metadata::parse(json).unwrap(), rules, &|path| sources.get(path).cloned())
    }

    const VISION: &[Rule] = &[Rule { krate: "vision", forbidden: &[("tokio", TOKIO), ("MQTT", MQTT)], no_std: false }];
    const PANEL: &[Rule] = &[Rule { krate: "panel", forbidden: &[("tokio", TOKIO)], no_std: true }];

    #[test]
    fn a_forbidden_crate_deep_in_the_closure_fails() {
        let json = metadata(
            &[("vision", "lib", &[]), ("tract", "lib", &[]), ("helper", "lib", &[]), ("tokio-util", "lib", &[])],
            &[
                ("vision", "tract", None, &[], true),
                ("tract", "helper", None, &[], true),
                ("helper", "tokio-util", None, &[], true),
            ],
        );
        assert_eq!(check(&json, VISION, &[]), ["vision depends on tokio-util (tokio), through helper"]);
    }

    #[test]
    fn dev_and_build_dependencies_do_not_count() {
        let json = metadata(
            &[("vision", "lib", &[]), ("rumqttc", "lib", &[]), ("tokio", "lib", &[])],
            &[("vision", "rumqttc", Some("dev"), &[], true), ("vision", "tokio", Some("build"), &[], true)],
        );
        assert_eq!(check(&json, VISION, &[]), Vec::<String>::new());
    }

    #[test]
    fn a_name_matches_exactly_or_by_its_prefix() {
        let json = metadata(
            &[("vision", "lib", &[]), ("tokionic", "lib", &[]), ("rumqttd", "lib", &[])],
            &[("vision", "tokionic", None, &[], true), ("vision", "rumqttd", None, &[], true)],
        );
        assert_eq!(check(&json, VISION, &[]), ["vision depends on rumqttd (MQTT), through vision"]);
    }

    #[test]
    fn a_rule_for_a_crate_that_is_gone_fails() {
        let json = metadata(&[("capture", "lib", &[])], &[]);
        assert_eq!(check(&json, VISION, &[]), ["vision: not in the workspace"]);
    }

    const NO_STD: &str = "//! Drivers.\n#![no_std]\n";

    #[test]
    fn a_no_std_crate_on_no_std_crates_passes() {
        let json = metadata(
            &[("panel", "lib", &[]), ("hal", "lib", &[]), ("bytes", "lib", &[("default", &["std"]), ("std", &[])])],
            &[("panel", "hal", None, &[], true), ("hal", "bytes", None, &[], false)],
        );
        let sources = [("panel", NO_STD), ("hal", NO_STD), ("bytes", "#![cfg_attr(not(feature = \"std\"), no_std)]\n")];
        assert_eq!(check(&json, PANEL, &sources), Vec::<String>::new());
    }

    #[test]
    fn a_no_std_crate_must_say_so_in_its_lib_rs() {
        let json = metadata(&[("panel", "lib", &[])], &[]);
        let said_in_a_doc_comment_only = "//! `#![no_std]` drivers.\n";
        assert_eq!(
            check(&json, PANEL, &[("panel", said_in_a_doc_comment_only)]),
            ["panel: its lib.rs does not say #![no_std]"]
        );
    }

    #[test]
    fn a_no_std_crate_on_a_std_crate_fails() {
        let json = metadata(
            &[("panel", "lib", &[]), ("hal", "lib", &[]), ("mio", "lib", &[]), ("derive", "proc-macro", &[])],
            &[("panel", "hal", None, &[], true), ("hal", "mio", None, &[], true), ("panel", "derive", None, &[], true)],
        );
        // A procedural macro runs on the host: neither it nor what it builds on needs no_std.
        let sources = [("panel", NO_STD), ("hal", NO_STD), ("mio", "//! Needs an OS.\n")];
        assert_eq!(check(&json, PANEL, &sources), ["panel depends on mio, which needs std, through hal"]);
    }

    #[test]
    fn a_no_std_crate_turning_on_a_std_feature_fails() {
        let json = metadata(
            &[("panel", "lib", &[]), ("bytes", "lib", &[("default", &["std"]), ("std", &["alloc"]), ("alloc", &[])])],
            &[("panel", "bytes", None, &[], true)],
        );
        let sources = [("panel", NO_STD), ("bytes", "#![cfg_attr(not(feature = \"std\"), no_std)]\n")];
        assert_eq!(check(&json, PANEL, &sources), ["panel depends on bytes with its std feature, through panel"]);
    }
}
