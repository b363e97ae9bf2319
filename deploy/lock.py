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


def target(platform: str) -> dict[str, str]:
    """The marker environment of the Lambda runtime on ``platform`` (PEP 508)."""
    return {"python_version": RUNTIME, "python_full_version": f"{RUNTIME}.0", "os_name": "posix",
            "sys_platform": "linux", "platform_system": "Linux", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "platform_release": "",
            "platform_version": "", "implementation_version": f"{RUNTIME}.0",
            "platform_machine": "aarch64" if platform.endswith("aarch64") else "x86_64"}


def requires(wheel: Path, platform: str) -> list[str]:
    """The distributions a wheel requires on the runtime (no extras; markers evaluated for the
    target, never for the machine running this)."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    found = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({**target(platform),
                                                                      "extra": ""}):
            found.append(normalize(requirement.name))
    return sorted(set(found))


def lock(top_level: list[str]) -> dict:
    packages: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for platform in PLATFORMS:
            for wheel in download(platform, Path(tmp) / platform, top_level):
                name, version = wheel.name.split("-")[:2]
                entry = packages.setdefault(normalize(name), {"version": version, "hashes": [],
                                                              "requires": []})
                entry["requires"] = sorted({*entry["requires"], *requires(wheel, platform)})
                assert entry["version"] == version, f"{name}: two versions resolved"
                digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
                if digest not in entry["hashes"]:
                    entry["hashes"].append(digest)
    missing = {(name, dep) for name, entry in packages.items() for dep in entry["requires"]
               if dep not in packages}
    if missing:  # a requirement for the runtime that pip did not download: never drop it
        raise SystemExit(f"lock: required on the runtime but not resolved: {sorted(missing)}")
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
