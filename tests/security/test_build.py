"""Second review, findings 7 and 10: the build machine.

Attacks: a planted package on the index pip uses, a stray file beside the code, and a
configuration that validates only thanks to the builder's environment (VAULT_ADDR, a local
CA file) and so fails on every call once deployed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.packaging import ROOT, build

VAULT_REGISTRY = {"host": "quay.internal", "backend": {
    "type": "vault", "path": "registries/quay", "auth": {"method": "aws", "role": "broker",
                                                          "header_value": "vault.internal"}}}


def fake_wheel(folder: Path, name: str, version: str) -> Path:
    """A pure-Python wheel that announces itself as ``name`` ``version``."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": b"PLANTED = True\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n"}

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = "".join(f"{path},sha256={digest(data)},{len(data)}\n" for path, data in files.items())
    record += f"{dist}/RECORD,,\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in {**files, f"{dist}/RECORD": record.encode()}.items():
            archive.writestr(path, data)
    return wheel


def test_a_planted_package_never_reaches_the_zip(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    fake_wheel(index, "hvac", "99.0.0")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    config = {"registries": {"quay": {**VAULT_REGISTRY, "backend": {
        **VAULT_REGISTRY["backend"], "address": "https://vault.internal:8200"}}}}
    built = build(config, tmp_path / "out")
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(tmp_path / "out" / "build" / "broker.zip") as archive:
        names = archive.namelist()
        assert not any(n.startswith("hvac-99") for n in names), "the planted hvac was vendored"
        assert b"PLANTED" not in archive.read("hvac/__init__.py")


def test_only_code_goes_into_the_zip(tmp_path):
    tree = tmp_path / "tree"
    for part in ("broker", "backends", "deploy"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "serverless.yml", tree / "serverless.yml")
    (tree / "broker" / ".env").write_text("AWS_SECRET_ACCESS_KEY=do-not-ship\n")
    (tree / "backends" / "notes.txt").write_text("scratch\n")
    (tree / "broker" / "local_override.py.bak").write_text("x = 1\n")
    config = tmp_path / "broker.json"
    config.write_text(json.dumps({"registries": {"a": {"host": "a.example", "backend": {
        "type": "secretsmanager", "secret_id": "s"}}}}))
    proc = subprocess.run([sys.executable, str(tree / "deploy" / "build.py"), "--config", str(config),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "out" / "broker.zip") as archive:
        names = archive.namelist()
    assert not [n for n in names if n.endswith((".env", ".txt", ".bak"))], names
    assert {Path(n).suffix for n in names if n.startswith(("broker/", "backends/"))} <= {".py", ".pyc"}


def test_a_vault_address_only_the_builder_has_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", "https://vault.builder-laptop:8200")
    proc = build({"registries": {"quay": VAULT_REGISTRY}}, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "VAULT_ADDR" in proc.stderr and "registries.quay.backend.address" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "broker validate" not in proc.stderr, "validate passes here: it sees VAULT_ADDR"


def test_a_ca_bundle_is_shipped_and_the_packaged_config_points_at_it(tmp_path):
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    config = {"defaults": {"ca_bundle": str(bundle)}, "registries": {"a": {
        "host": "a.example", "backend": {"type": "secretsmanager", "secret_id": "s"}}}}
    proc = build(config, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    task = tmp_path / "task"
    with zipfile.ZipFile(tmp_path / "out" / "build" / "broker.zip") as archive:
        archive.extractall(task)
    packaged = json.loads((task / "broker.json").read_text())
    shipped = packaged["defaults"]["ca_bundle"]
    assert not Path(shipped).is_absolute() and (task / shipped).read_text() == bundle.read_text()
    bundle.unlink()  # the builder's file is gone; the deployed function must not need it
    from broker.config import load_config

    loaded = load_config(str(task / "broker.json"), environ={})
    assert loaded.registries["a"].ca_bundle == str(task / shipped)


def test_a_relative_ca_bundle_is_read_from_the_configuration_folder(tmp_path, monkeypatch):
    folder, elsewhere = tmp_path / "cfg", tmp_path / "cwd"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "ca.pem").write_text("the CA the configuration names\n")
    (elsewhere / "ca.pem").write_text("whatever is in the builder's working directory\n")
    (folder / "broker.json").write_text(json.dumps({"defaults": {"ca_bundle": "ca.pem"},
        "registries": {"a": {"host": "a.example", "backend": {
            "type": "secretsmanager", "secret_id": "s"}}}}))
    proc = subprocess.run([sys.executable, str(ROOT / "deploy" / "build.py"), "--config",
                           str(folder / "broker.json"), "--out", str(tmp_path / "out")],
                          cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "out" / "broker.zip") as archive:
        shipped = json.loads(archive.read("broker.json"))["defaults"]["ca_bundle"]
        assert archive.read(shipped) == b"the CA the configuration names\n"
