# nooelint: oelint.var.mandatoryvar.HOMEPAGE, oelint.var.suggestedvar.BUGTRACKER
# (Cuebox has no public homepage or bug tracker yet.)
SUMMARY = "Cuebox recognition models"
DESCRIPTION = "The ONNX models Cuebox loads (image embedding, palm detection, \
               multilingual text embedding, text detection and recognition), as \
               `cargo xtask setup` makes them from their registry packages, \
               checked against models/SHA256SUMS."
SECTION = "multimedia"
LICENSE = "Apache-2.0 & MIT"
# Each model's licence is stated in models/README.md (its model card); no model ships a
# licence file of its own.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10 \
                    file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# files/ is a link to the checkout's models/ folder.
SRC_URI = "file://SHA256SUMS"
# CUEBOX_MODELS and their SRC_URI: the models of models/SHA256SUMS (`cargo xtask yocto-crates`).
require cuebox-models-files.inc

S = "${UNPACKDIR}"

inherit allarch

do_compile() {
    for f in ${CUEBOX_MODELS}; do
        grep -E "^[0-9a-f]{64}  $f\$" ${S}/SHA256SUMS | sha256sum -c --quiet - \
            || bbfatal "$f does not match models/SHA256SUMS: run cargo xtask setup"
    done
}

do_install() {
    install -d ${D}${datadir}/cuebox/models
    for f in ${CUEBOX_MODELS}; do
        install -m 0644 ${S}/$f ${D}${datadir}/cuebox/models/$f
    done
}

FILES:${PN} += "${datadir}/cuebox/models"

BBCLASSEXTEND = "native nativesdk"
CVE_PRODUCT = "cuebox-models"
