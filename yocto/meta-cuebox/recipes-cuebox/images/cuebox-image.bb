# nooelint: oelint.var.suggestedvar.BUGTRACKER
# (Cuebox has no public bug tracker yet.)
SUMMARY = "Cuebox appliance image"
DESCRIPTION = "A box for a studio's camera line: systemd, the mosquitto broker, \
               GStreamer with its base and good plugins, v4l-utils and the Cuebox \
               daemon, which comes up by itself."
SECTION = "image"
LICENSE = "MIT"

inherit core-image features_check

REQUIRED_DISTRO_FEATURES = "systemd"

IMAGE_INSTALL = "packagegroup-core-boot \
                 cuebox \
                 cuebox-models \
                 mosquitto \
                 mosquitto-clients \
                 gstreamer1.0 \
                 gstreamer1.0-plugins-base-meta \
                 gstreamer1.0-plugins-good-meta \
                 v4l-utils \
                 avahi-daemon \
                 ${CORE_IMAGE_EXTRA_INSTALL}"

IMAGE_LINGUAS = ""

CVE_PRODUCT = "cuebox-image"
