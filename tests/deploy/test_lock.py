"""deploy/lock.py reads what each wheel requires for the Lambda runtime, not for this machine."""

from __future__ import annotations

import importlib.util
import zipfile

import pytest

from tests.support.packaging import ROOT


def lock_module():
    spec = importlib.util.spec_from_file_location("deploy_lock", ROOT / "deploy" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wheel(tmp_path, *requires: str):
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    lines = ["Metadata-Version: 2.1", "Name: demo", "Version: 1.0",
             *(f"Requires-Dist: {r}" for r in requires)]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("platform, expected", [
    ("manylinux2014_aarch64", ["always", "arm-only", "linux-only", "new-python"]),
    ("manylinux2014_x86_64", ["always", "linux-only", "new-python"]),
])
def test_markers_are_evaluated_for_the_runtime_on_each_architecture(tmp_path, platform, expected):
    path = wheel(tmp_path, "always>=1", 'arm-only; platform_machine == "aarch64"',
                 'old-python; python_version < "3.8"', 'new-python; python_full_version >= "3.12"',
                 'linux-only; sys_platform == "linux"', 'windows-only; sys_platform == "win32"',
                 'docs-only; extra == "docs"')
    assert lock_module().requires(path, platform) == expected
