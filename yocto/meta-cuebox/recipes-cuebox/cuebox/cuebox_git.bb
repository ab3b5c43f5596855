# nooelint: oelint.var.mandatoryvar.HOMEPAGE, oelint.var.suggestedvar.BUGTRACKER, oelint.var.bbclassextend
# (Cuebox has no public homepage or bug tracker yet; the daemon is built for the target only.)
SUMMARY = "Cuebox: product recognition and host cues for live-commerce studios"
DESCRIPTION = "The Cuebox daemon recognizes products held up to a camera and cues \
               the host over MQTT. With its systemd units, first-boot provisioning \
               and the appliance's mosquitto configuration."
SECTION = "multimedia"
LICENSE = "Apache-2.0"
# The workspace declares Apache-2.0 in Cargo.toml and has no licence file of its own yet.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

DEPENDS = "clang-native gstreamer1.0 gstreamer1.0-plugins-base"
# The v4l crate's bindings are made by bindgen at build time: libclang from clang-native, the
# target's kernel headers from its sysroot.
export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--target=${TARGET_SYS} --sysroot=${STAGING_DIR_TARGET}"

# The checkout this layer lives in (yocto/meta-cuebox/recipes-cuebox/cuebox/../../../..).
CUEBOX_TOPDIR ?= "${@os.path.normpath(os.path.join(d.getVar('FILE_DIRNAME'), '../../../..'))}"
# Set both in local.conf to build from a git server instead.
CUEBOX_GIT_URI ?= "git://${CUEBOX_TOPDIR};protocol=file"
CUEBOX_BRANCH ?= "main"
PV = "0.1.0+git"
SRC_URI = "${CUEBOX_GIT_URI};branch=${CUEBOX_BRANCH}"
# Every crate of Cargo.lock, written by `cargo xtask yocto-crates` (checked by `cargo xtask test`).
require cuebox-crates.inc

# The newest commit of the checkout's branch; set SRCREV:pn-cuebox in local.conf to pin one.
# nooelint: oelint.vars.autorev
SRCREV = "${AUTOREV}"

inherit cargo cargo-update-recipe-crates pkgconfig systemd useradd

# Only the daemon, not the workspace's development tools.
CARGO_BUILD_FLAGS += "--package cuebox"

do_install() {
    install -D -m 0755 ${B}/target/${CARGO_TARGET_SUBDIR}/cuebox ${D}${bindir}/cuebox
    install -D -m 0755 ${S}/systemd/cuebox-firstboot ${D}${libexecdir}/cuebox/cuebox-firstboot
    install -D -m 0644 ${S}/systemd/cuebox.service ${D}${systemd_system_unitdir}/cuebox.service
    install -D -m 0644 ${S}/systemd/cuebox-firstboot.service ${D}${systemd_system_unitdir}/cuebox-firstboot.service
    install -D -m 0644 ${S}/systemd/mosquitto.service.d/cuebox.conf ${D}${systemd_system_unitdir}/mosquitto.service.d/cuebox.conf
    install -D -m 0644 ${S}/systemd/cuebox-panel.rules ${D}${nonarch_base_libdir}/udev/rules.d/70-cuebox-panel.rules
    install -D -m 0644 ${S}/systemd/cuebox.toml ${D}${sysconfdir}/cuebox/cuebox.toml
    install -D -m 0644 ${S}/systemd/mosquitto/cuebox.conf ${D}${sysconfdir}/cuebox/mosquitto.conf
    install -D -m 0644 ${S}/systemd/mosquitto/cuebox.acl ${D}${sysconfdir}/cuebox/mosquitto.acl
    install -D -m 0644 ${S}/README.md ${D}${docdir}/cuebox/README.md
    install -D -m 0644 ${S}/docs/contract.md ${D}${docdir}/cuebox/contract.md
}

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/cuebox --no-create-home \
                       --shell ${base_sbindir}/nologin --user-group --groups video cuebox"

SYSTEMD_SERVICE:${PN} = "cuebox.service cuebox-firstboot.service"
SYSTEMD_AUTO_ENABLE = "enable"

FILES:${PN} += "${systemd_system_unitdir}/mosquitto.service.d ${nonarch_base_libdir}/udev/rules.d"
CONFFILES:${PN} = "${sysconfdir}/cuebox/cuebox.toml \
                   ${sysconfdir}/cuebox/mosquitto.conf \
                   ${sysconfdir}/cuebox/mosquitto.acl"

RDEPENDS:${PN} = "cuebox-models mosquitto"
# The GStreamer elements of the capture pipelines: appsink, conversion and scaling, decodebin,
# V4L2 cameras, RTSP cameras and MP4 files.
RRECOMMENDS:${PN} = "gstreamer1.0-plugins-base-app \
                     gstreamer1.0-plugins-base-videoconvertscale \
                     gstreamer1.0-plugins-base-playback \
                     gstreamer1.0-plugins-base-typefindfunctions \
                     gstreamer1.0-plugins-good-video4linux2 \
                     gstreamer1.0-plugins-good-rtsp \
                     gstreamer1.0-plugins-good-rtpmanager \
                     gstreamer1.0-plugins-good-rtp \
                     gstreamer1.0-plugins-good-udp \
                     gstreamer1.0-plugins-good-isomp4"

CVE_PRODUCT = "cuebox"
