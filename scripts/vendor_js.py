"""Refresh the vendored JavaScript libraries from npm, at the pinned versions.

Usage: python scripts/vendor_js.py [NAME@VERSION ...]

With no arguments, fetches every library listed in
src/reelhouse/web/static/vendor/VERSIONS.json again at its pinned version;
with NAME@VERSION, pins that version and fetches it. Nothing is loaded from
a CDN at run time: the files are served by Reelhouse itself.
"""

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "src/reelhouse/web/static/vendor"
PINS = VENDOR / "VERSIONS.json"


def fetch(name: str, version: str, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        packed = subprocess.run(
            ["npm", "pack", f"{name}@{version}", "--pack-destination", scratch],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
        with tarfile.open(Path(scratch) / packed) as archive:
            archive.extractall(scratch, filter="data")
        for inside, vendored in files.items():
            shutil.copyfile(Path(scratch) / "package" / inside, VENDOR / vendored)
    print(f"{name}@{version}: {', '.join(files.values())}")


def main(requested: list[str]) -> None:
    pins = json.loads(PINS.read_text())
    for spec in requested:
        name, _, version = spec.rpartition("@")
        if name not in pins:
            sys.exit(f"{name} is not vendored; add it to {PINS.name} with its files")
        pins[name]["version"] = version
    for name, pin in pins.items():
        if not requested or any(spec.rpartition("@")[0] == name for spec in requested):
            fetch(name, pin["version"], pin["files"])
    PINS.write_text(json.dumps(pins, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
