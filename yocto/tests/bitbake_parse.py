"""Parses meta-cuebox with bitbake's own parser and checks what the recipes say.

Usage: python bitbake_parse.py LAYER_DIR REPO_ROOT

The `bb` library comes from the bitbake-setup wheel (yocto/requirements.txt). OE-core is not
checked out here (its git server is out of reach), so the classes the recipes inherit are empty
stand-ins and conf/bitbake.conf is a small one with OE-core's path variables: the parse proves
the syntax, the includes and the inherits, and the checks below prove the values (every crate of
Cargo.lock fetched with its checksum, every file that do_install names present in the checkout,
every model of models/SHA256SUMS shipped, the image's packages).
"""

import glob
import os
import re
import sys
import tempfile
import types

# bb.siggen imports hashserv (bitbake's hash equivalence client), which the wheel leaves out.
for name in ("hashserv", "hashserv.client"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["hashserv"].client = sys.modules["hashserv.client"]

import bb  # noqa: E402
import bb.data  # noqa: E402
import bb.fetch2  # noqa: E402
import bb.parse  # noqa: E402
import bb.siggen  # noqa: E402
import bb.utils  # noqa: E402

# The OE-core classes meta-cuebox inherits, with the variables of theirs it relies on.
CLASSES = {
    "classes-global/base.bbclass": "",
    "classes-recipe/cargo.bbclass": (
        'CARGO_BUILD_FLAGS = "-v --frozen --target ${RUST_HOST_SYS} --release '
        '--manifest-path=${S}/Cargo.toml"\n'
        'CARGO_TARGET_SUBDIR = "${RUST_HOST_SYS}/release"\nB = "${WORKDIR}/build"\n'
    ),
    "classes-recipe/cargo-update-recipe-crates.bbclass": "",
    "classes-recipe/pkgconfig.bbclass": "",
    "classes-recipe/systemd.bbclass": 'SYSTEMD_AUTO_ENABLE ??= "enable"\n',
    "classes-recipe/useradd.bbclass": "",
    "classes-recipe/allarch.bbclass": 'PACKAGE_ARCH = "all"\n',
    "classes-recipe/core-image.bbclass": "",
    "classes-recipe/features_check.bbclass": "",
    "classes-recipe/native.bbclass": "",
    "classes-recipe/nativesdk.bbclass": "",
}

BITBAKE_CONF = """
PN = "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[0] or 'defaultpkgname'}"
PV = "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[1] or '1.0'}"
BPN = "${PN}"
BP = "${BPN}-${PV}"
TMPDIR = "%(tmp)s/tmp"
WORKDIR = "${TMPDIR}/work/${PN}"
UNPACKDIR = "${WORKDIR}/sources"
S = "${UNPACKDIR}/${BP}"
D = "${WORKDIR}/image"
RUST_HOST_SYS = "aarch64-poky-linux-gnu"
COMMON_LICENSE_DIR = "%(tmp)s/licenses"
prefix = "/usr"
exec_prefix = "/usr"
base_prefix = ""
bindir = "${exec_prefix}/bin"
sbindir = "${exec_prefix}/sbin"
libexecdir = "${exec_prefix}/libexec"
datadir = "${prefix}/share"
docdir = "${datadir}/doc"
sysconfdir = "/etc"
localstatedir = "/var"
base_sbindir = "${base_prefix}/sbin"
nonarch_base_libdir = "${base_prefix}/lib"
systemd_system_unitdir = "${nonarch_base_libdir}/systemd/system"
FILE_DIRNAME = "${@os.path.dirname(d.getVar('FILE', False))}"
FILESPATH = "${FILE_DIRNAME}/${BP}:${FILE_DIRNAME}/${BPN}:${FILE_DIRNAME}/files"
OVERRIDES = "class-target:pn-${PN}"
"""

problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def parse_layer(layer, tmp):
    d = bb.data.init()
    for path, text in CLASSES.items():
        os.makedirs(os.path.join(tmp, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(tmp, path), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(tmp, "conf"), exist_ok=True)
    with open(os.path.join(tmp, "conf/bitbake.conf"), "w") as f:
        f.write(BITBAKE_CONF % {"tmp": tmp})
    d.setVar("BBPATH", tmp)
    d.setVar("__bbclasstype", "global")
    # As bitbake's cooker does: each layer.conf with LAYERDIR set, then LAYERDIR expanded.
    d.setVar("LAYERDIR", layer)
    d.setVar("LAYERDIR_RE", re.escape(layer))
    d = bb.parse.handle(os.path.join(layer, "conf/layer.conf"), d)
    d.expandVarref("LAYERDIR")
    d.expandVarref("LAYERDIR_RE")
    d.delVar("LAYERDIR")
    d.delVar("LAYERDIR_RE")
    d = bb.parse.handle(os.path.join(tmp, "conf/bitbake.conf"), d)
    d = bb.parse.handle(os.path.join(tmp, "classes-global/base.bbclass"), d, True)
    d.setVar("__bbclasstype", "recipe")
    # The cooker's task signature generator; the basic one computes nothing.
    bb.parse.siggen = bb.siggen.SignatureGenerator(d)
    return d


def recipes(config):
    files = []
    for pattern in (config.getVar("BBFILES") or "").split():
        files.extend(glob.glob(pattern))
    return sorted(set(files))


def parse_recipe(path, config):
    d = bb.data.createCopy(config)
    return bb.parse.handle(path, d)[""]


def lock_crates(repo):
    crates = {}
    text = open(os.path.join(repo, "Cargo.lock")).read()
    for block in text.split("[[package]]")[1:]:
        fields = dict(re.findall(r'^(\w+) = "([^"]*)"$', block, re.M))
        if "crates.io" in fields.get("source", ""):
            crates["%s-%s" % (fields["name"], fields["version"])] = fields["checksum"]
    return crates


def installed_sources(d, repo):
    """The ${S}/... paths do_install reads, relative to the checkout."""
    body = d.getVar("do_install", False) or ""
    return sorted(set(re.findall(r"\$\{S\}/([A-Za-z0-9_./-]+)", body)))


def check_layer(config, repo):
    check("cuebox" in (config.getVar("BBFILE_COLLECTIONS") or "").split(), "layer.conf: BBFILE_COLLECTIONS lacks cuebox")
    check(config.getVar("LAYERSERIES_COMPAT_cuebox"), "layer.conf: no LAYERSERIES_COMPAT_cuebox")


def check_cuebox(d, repo):
    topdir = d.getVar("CUEBOX_TOPDIR")
    check(os.path.realpath(topdir or "") == repo, "cuebox: CUEBOX_TOPDIR is %r, not the checkout" % topdir)
    uris = (d.getVar("SRC_URI") or "").split()
    check(uris and uris[0].startswith("git://%s;" % repo), "cuebox: the first SRC_URI should be the checkout's git, not %r" % (uris[:1],))
    crates = lock_crates(repo)
    fetched = {}
    for uri in uris:
        scheme, host, path, _, _, params = bb.fetch2.decodeurl(uri)
        if scheme == "crate":
            fetched[params.get("name")] = (host, path)
    check(set(fetched) == set(crates), "cuebox: crates fetched but not in Cargo.lock %s, in Cargo.lock but not fetched %s"
          % (sorted(set(fetched) - set(crates))[:5], sorted(set(crates) - set(fetched))[:5]))
    for key, checksum in crates.items():
        flag = d.getVarFlag("SRC_URI", key + ".sha256sum")
        check(flag == checksum, "cuebox: SRC_URI[%s.sha256sum] is %r, Cargo.lock says %r" % (key, flag, checksum))
    for rel in installed_sources(d, repo):
        check(os.path.isfile(os.path.join(repo, rel)), "cuebox: do_install installs ${S}/%s, which the checkout lacks" % rel)
    units = (d.getVar("SYSTEMD_SERVICE:cuebox") or "").split()
    check(units == ["cuebox.service", "cuebox-firstboot.service"], "cuebox: SYSTEMD_SERVICE is %r" % units)
    for unit in units:
        check(os.path.isfile(os.path.join(repo, "systemd", unit)), "cuebox: systemd/%s is missing" % unit)
    flags = d.getVar("CARGO_BUILD_FLAGS") or ""
    check("--frozen" in flags and "--package cuebox" in flags, "cuebox: CARGO_BUILD_FLAGS is %r" % flags)
    check("video" in (d.getVar("USERADD_PARAM:cuebox") or ""), "cuebox: the cuebox user is not in the video group")
    for conf in ("cuebox.toml", "mosquitto.conf", "mosquitto.acl"):
        check("/etc/cuebox/" + conf in (d.getVar("CONFFILES:cuebox") or ""), "cuebox: /etc/cuebox/%s is not a conffile" % conf)
    return len(crates)


def check_models(d, repo):
    wanted = []
    for line in open(os.path.join(repo, "models/SHA256SUMS")):
        name = line.strip().split("  ", 1)[-1]
        if name and not name.startswith("cache/"):
            wanted.append(name)
    uris = (d.getVar("SRC_URI") or "").split()
    local = [bb.fetch2.decodeurl(u)[2].lstrip("/") for u in uris if u.startswith("file://")]
    check(sorted(local) == sorted(wanted + ["SHA256SUMS"]), "cuebox-models: SRC_URI has %r, models/SHA256SUMS names %r" % (local, wanted))
    # bitbake finds file:// entries along FILESPATH: here files/, the link to models/.
    searched = (d.getVar("FILESPATH") or "").split(":")
    for name in local:
        found = [os.path.join(p, name) for p in searched if os.path.isfile(os.path.join(p, name))]
        check(found, "cuebox-models: %s is not found along FILESPATH (run `cargo xtask setup`?)" % name)
        if found:
            check(os.path.realpath(found[0]) == os.path.join(repo, "models", name),
                  "cuebox-models: %s resolves to %s, not the checkout's models/" % (name, os.path.realpath(found[0])))
    return len(wanted)


def check_image(d):
    install = (d.getVar("IMAGE_INSTALL") or "").split()
    for package in ("packagegroup-core-boot", "cuebox", "cuebox-models", "mosquitto", "v4l-utils",
                    "gstreamer1.0-plugins-base-meta", "gstreamer1.0-plugins-good-meta"):
        check(package in install, "cuebox-image: IMAGE_INSTALL lacks %s" % package)
    check("systemd" in (d.getVar("REQUIRED_DISTRO_FEATURES") or "").split(), "cuebox-image: systemd is not required")


def main():
    layer, repo = (os.path.realpath(p) for p in sys.argv[1:3])
    with tempfile.TemporaryDirectory() as tmp:
        config = parse_layer(layer, tmp)
        check_layer(config, repo)
        found = {os.path.basename(p): p for p in recipes(config)}
        check(sorted(found) == ["cuebox-image.bb", "cuebox-models_0.1.0.bb", "cuebox_git.bb"], "BBFILES finds %s" % sorted(found))
        parsed = {name: parse_recipe(path, config) for name, path in found.items()}
        crates = check_cuebox(parsed["cuebox_git.bb"], repo) if "cuebox_git.bb" in parsed else 0
        models = check_models(parsed["cuebox-models_0.1.0.bb"], repo) if "cuebox-models_0.1.0.bb" in parsed else 0
        if "cuebox-image.bb" in parsed:
            check_image(parsed["cuebox-image.bb"])
    if problems:
        print("\n".join("bitbake parse: " + p for p in problems), file=sys.stderr)
        sys.exit(1)
    print("appliance: bitbake %s parsed layer.conf and %d recipes: %d crates with checksums, %d models, image packages ok"
          % (bb.__version__, len(parsed), crates, models))


if __name__ == "__main__":
    main()
