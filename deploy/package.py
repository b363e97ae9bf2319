"""Staging, vendoring and zipping: what goes into ``broker.zip``.

Only the code (``*.py`` files of broker/ and backends/, of the built-in backends only those
the configuration uses), a plugin's code and dist-info, the configuration as JSON with its CA
files, the pin, and the dependencies the Lambda runtime lacks, installed from
``deploy/vendor.lock.json`` only (``--require-hashes --no-deps``), compiled for the runtime's
Python when that interpreter is on PATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import backends
from broker.config import load_config
from broker.deployment import Deployment
from broker.model import Config
from broker.sources import ca_holders
from deploy.errors import BuildError

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = "3.12"
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
PACKAGED_CONFIG = "broker.json"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same inputs, same zip: no redeploy for unchanged code
LOCK = ROOT / "deploy" / "vendor.lock.json"
CA_FOLDER = "ca"


NOT_SHIPPED = {f"broker/{name}.py" for name in (
    "testing",  # plugins' test kit: pytest, never imported by the function
    "cli", "__main__", "plan", "presets", "config_schema", "wiring", "deployment", "iam", "reach",
)}  # the command line and the build's own modules: the function never imports them


def stage_code(stage: Path, model: Deployment, config_source: str) -> None:
    """Only the code the function runs: ``*.py`` files, so a stray ``.env`` or note beside it
    never ships; no build-time module; of the built-in backends, only those the configuration
    uses (the pin keeps it from changing)."""
    used = model.built_in_modules(config_source)
    unused = {f"{module.replace('.', '/')}.py" for module in
              {backends.built_in_module(name) for name in backends.KNOWN} - used}
    unused |= _unused_rotation(model)
    for package in ("broker", "backends"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" not in path.parts and \
                    path.relative_to(ROOT).as_posix() not in NOT_SHIPPED | unused:
                target = stage / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def _unused_rotation(model: Deployment) -> set[str]:
    """The rotation package when no registry rotates; else the rotators nobody uses."""
    from broker import rotation

    folder = ROOT / "broker" / "rotation"
    if not model.rotations:
        return {path.relative_to(ROOT).as_posix() for path in folder.glob("*.py")}
    used = {module for facts in model.rotations for module in facts.modules}
    return {f"{module.replace('.', '/')}.py" for module in
            {rotation.built_in_module(name) for name in rotation.KNOWN} - used}


def stage_plugins(model: Deployment, stage: Path) -> None:
    """The code of every plugin backend and rotator the configuration uses (its ``*.py``
    files); what it requires comes from the lock with the rest (its ``distributions``)."""
    from broker import rotation

    for name in sorted(model.backend_types() - set(backends.KNOWN)):
        _stage_plugin(backends.plugins()[name], f"backend type {name!r}", stage)
    rotators = {facts.registry.rotation.type for facts in model.registries
                if facts.rotation is not None}
    for name in sorted(rotators - set(rotation.KNOWN)):
        _stage_plugin(rotation.plugins()[name], f"rotator type {name!r}", stage)


def _stage_plugin(entry_point: Any, what: str, stage: Path) -> None:
    import importlib.util

    top = entry_point.value.split(":")[0].split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise BuildError(f"the plugin for {what} ({top}) cannot be found")
    _stage_entry_points(entry_point.dist, stage)
    origin = Path(spec.origin)
    if origin.name != "__init__.py":  # a single module
        shutil.copyfile(origin, stage / origin.name)
        return
    for path in sorted(origin.parent.rglob("*.py")):
        if "__pycache__" not in path.parts:
            target = stage / top / path.relative_to(origin.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _stage_entry_points(dist: Any, stage: Path) -> None:
    """The plugin distribution's METADATA and entry_points.txt, in a dist-info folder: the
    function finds its backends by entry point, as the builder did."""
    folder = stage / f"{_normalized(dist.metadata['Name']).replace('-', '_')}-{dist.version}.dist-info"
    folder.mkdir(exist_ok=True)
    for part in ("METADATA", "entry_points.txt"):
        (folder / part).write_text(dist.read_text(part) or "")


def stage_config(document: dict, stage: Path) -> Config:
    """Write the configuration as JSON (no YAML parser at run time), with every ``ca_bundle``
    copied into the zip and pointed at relatively; return it as the function will load it."""
    packaged = json.loads(json.dumps(document))
    for holder in ca_holders(packaged):
        holder["ca_bundle"] = _ship_file(Path(holder["ca_bundle"]), stage)
    path = stage / PACKAGED_CONFIG
    path.write_text(json.dumps(packaged, indent=1))
    return load_config(str(path), environ={})


def _ship_file(path: Path, stage: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BuildError(f"cannot read ca_bundle {path} ({type(exc).__name__})") from None
    name = f"{CA_FOLDER}/{hashlib.sha256(data).hexdigest()[:16]}-{path.name}"
    (stage / name).parent.mkdir(parents=True, exist_ok=True)
    (stage / name).write_bytes(data)
    return name


def vendor(packages: list[str], stage: Path, platform: str) -> None:
    """Install ``packages`` and what they require, exactly as locked, hashes checked."""
    if not packages:
        return
    locked = json.loads(LOCK.read_text())["packages"]
    missing = [name for name in packages if name not in locked]
    if missing:
        raise BuildError(f"{', '.join(missing)} is not pinned in deploy/vendor.lock.json: add it "
                         f"with `python deploy/lock.py --add {' '.join(missing)}` and review the diff")
    requirements = stage.parent / "requirements.txt"
    requirements.write_text("".join(
        f"{name}=={locked[name]['version']} "
        + " ".join(f"--hash=sha256:{h}" for h in locked[name]["hashes"]) + "\n"
        for name in _closure(packages, locked)))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(stage),
                    "--platform", platform, "--implementation", "cp", "--python-version", RUNTIME,
                    "--only-binary=:all:", "--no-compile", "--no-deps", "--require-hashes",
                    "-r", str(requirements)], check=True)
    requirements.unlink()
    shutil.rmtree(stage / "bin", ignore_errors=True)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(packages: list[str], locked: dict) -> list[str]:
    found: set[str] = set()
    pending = list(packages)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += locked[name]["requires"]
    return sorted(found)


def compile_for_runtime(stage: Path) -> None:
    """Bytecode for the runtime's Python: Lambda's file system is read-only, so without it
    every cold start compiles the code again."""
    python = _runtime_python()
    if python is None:
        print(f"note: no working python{RUNTIME}; packaging without .pyc files", file=sys.stderr)
        return
    subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                    str(stage)], check=True)


def _runtime_python() -> str | None:
    candidates = [os.environ.get("RUNTIME_PYTHON"), shutil.which(f"python{RUNTIME}"),
                  *map(str, sorted(Path.home().glob(f".pyenv/versions/{RUNTIME}*/bin/python{RUNTIME}")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "pass"], capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def write_zip(stage: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(stage)), FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return target


