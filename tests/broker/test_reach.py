"""Issue 17, item 5: `broker plan` and the build say when a server is on a private network,
and show the exact parameters that put the function in a VPC."""

from __future__ import annotations

import pytest

from broker.cli import main
from broker.reach import VPC_ARGS, is_private
from tests.support.packaging import EXAMPLE, build


@pytest.mark.parametrize("host, private", [
    ("harbor.internal", True), ("registry", True), ("vault.corp", True), ("10.0.0.5", True),
    ("[fd00::5]", True), ("172.16.3.4", True), ("registry.example.com", False),
    ("52.94.0.10", False), ("quay.io", False)])
def test_private_hosts(host, private):
    assert is_private(host) is private


def test_plan_names_the_private_hosts_and_the_vpc_parameters(capsys):
    assert main(["plan", "--config", str(EXAMPLE)]) == 0
    err = capsys.readouterr().err
    assert "registries.harbor.host (harbor.internal)" in err
    assert "registries.quay.backend.address (vault.internal)" in err
    assert f"make package {VPC_ARGS}" in err
    assert "--param=vpc=true --param=subnetIds=" in VPC_ARGS


def test_a_public_only_configuration_gets_no_reach_note(tmp_path, capsys):
    import json

    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {"hub": {"host": "registry-1.docker.io", "backend": {
        "type": "secretsmanager", "secret_id": "hub"}}}}))
    assert main(["plan", "--config", str(path)]) == 0
    assert "private network" not in capsys.readouterr().err


def test_the_build_says_it_too(tmp_path):
    config = {"registries": {"h": {"host": "harbor.internal", "backend": {
        "type": "secretsmanager", "secret_id": "h"}}}}
    proc = build(config, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "registries.h.host (harbor.internal) is on a private network" in proc.stderr
    assert VPC_ARGS in proc.stderr
