"""Loads every kas file of yocto/kas with kas's own loader (its JSON schema and file-version
check), and checks what the Cuebox build needs from it.

Usage: python kas_schema.py KAS_DIR
(`kas build` itself needs the layer repositories, whose git servers are out of reach here.)
"""

import glob
import logging
import os
import sys

from kas import __version__
from kas.includehandler import ConfigFile

REPO_ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "../.."))


def main():
    logging.basicConfig(level=logging.ERROR, format="kas: %(message)s")
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*.yml")))
    problems = []
    for path in files:
        name = os.path.basename(path)
        try:
            config = ConfigFile.load(path).config
        except Exception as e:  # kas's own error, with its message
            problems.append("%s: %s" % (name, e))
            continue
        if not config.get("machine", "").endswith("64"):
            problems.append("%s: machine %r is not a 64-bit board" % (name, config.get("machine")))
        if config.get("target") != "cuebox-image":
            problems.append("%s: target is %r, not cuebox-image" % (name, config.get("target")))
        repos = config.get("repos", {})
        layers = (repos.get("cuebox") or {}).get("layers") or {}
        for layer in layers:
            if not os.path.isfile(os.path.join(REPO_ROOT, layer, "conf/layer.conf")):
                problems.append("%s: the cuebox repo's layer %s has no conf/layer.conf" % (name, layer))
        if "yocto/meta-cuebox" not in layers:
            problems.append("%s: yocto/meta-cuebox is not a layer of the build" % name)
        listed = {layer for repo in repos.values() for layer in ((repo or {}).get("layers") or {})}
        for needed in ("meta", "meta-oe", "meta-networking"):
            if needed not in listed:
                problems.append("%s: layer %s (needed by meta-cuebox) is missing" % (name, needed))
        for repo_name, repo in repos.items():
            if repo_name != "cuebox" and not ((repo or {}).get("branch") or (repo or {}).get("commit")):
                problems.append("%s: repo %s follows no branch or commit" % (name, repo_name))
        if "systemd" not in config.get("local_conf_header", {}).get("cuebox", ""):
            problems.append("%s: the build does not select systemd" % name)
    if not files:
        problems.append("no kas file in %s" % sys.argv[1])
    if problems:
        print("\n".join("kas: " + p for p in problems), file=sys.stderr)
        sys.exit(1)
    print("appliance: kas %s loaded %s (schema and file version ok)" % (__version__, ", ".join(os.path.basename(f) for f in files)))


if __name__ == "__main__":
    main()
