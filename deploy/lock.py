"""Write deploy/vendor.lock.json: every package build.py may vendor, pinned with its hashes.

    python deploy/lock.py [--add NAME ...] [--out deploy/vendor.lock.json]

Resolves the top-level packages below for the Lambda runtime (CPython 3.12, manylinux2014,
both architectures), downloads every wheel once, and records for each distribution its
version, the sha256 of every wheel file (one per architecture for compiled ones) and what it
requires. build.py then installs from that lock alone, ``--require-hashes --no-deps``: a
package planted on an index, or a changed file, cannot reach the zip. Run it (and review the
diff) when upgrading a vendored package; ``--add`` adds a top-level package (a plugin's
requirement), which later runs keep.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "deploy" / "vendor.lock.json"
TOP_LEVEL = ["hvac", "requests", "urllib3>=2.6", "PyYAML"]
PLATFORMS = ["manylinux2014_aarch64", "manylinux2014_x86_64"]
RUNTIME = "3.12"


def normalize(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def download(platform: str, folder: Path, top_level: list[str]) -> list[Path]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder),
                    "--only-binary=:all:", "--platform", platform, "--implementation", "cp",
                    "--python-version", RUNTIME, *top_level], check=True)
    return sorted(folder.glob("*.whl"))


def requires(wheel: Path) -> list[str]:
    """The distributions a wheel requires unconditionally (no extras)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    found = []
    for line in metadata.get_all("Requires-Dist") or []:
        if "extra ==" not in line:
            found.append(normalize(re.split(r"[\s;<>=!~\[(]", line.strip(), maxsplit=1)[0]))
    return sorted(set(found))


def lock(top_level: list[str]) -> dict:
    packages: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for platform in PLATFORMS:
            for wheel in download(platform, Path(tmp) / platform, top_level):
                name, version = wheel.name.split("-")[:2]
                entry = packages.setdefault(normalize(name), {"version": version, "hashes": [],
                                                              "requires": requires(wheel)})
                assert entry["version"] == version, f"{name}: two versions resolved"
                digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
                if digest not in entry["hashes"]:
                    entry["hashes"].append(digest)
    for entry in packages.values():
        # pip resolved the markers for the runtime: a requirement it did not download
        # (say typing-extensions on Python < 3.8) does not apply there.
        entry["requires"] = [name for name in entry["requires"] if name in packages]
    return {"python": RUNTIME, "platforms": PLATFORMS, "top_level": top_level,
            "packages": {k: {**v, "hashes": sorted(v["hashes"])} for k, v in sorted(packages.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(LOCK))
    parser.add_argument("--add", nargs="+", default=[], metavar="NAME",
                        help="more top-level packages to pin (kept by later runs)")
    args = parser.parse_args(argv)
    previous = json.loads(Path(args.out).read_text()).get("top_level", []) \
        if Path(args.out).exists() else []
    top_level = list(dict.fromkeys([*TOP_LEVEL, *previous, *args.add]))
    Path(args.out).write_text(json.dumps(lock(top_level), indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
