"""`broker init`: every preset writes a configuration that validate and the schema accept."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from broker import config_schema, presets
from broker.cli import main
from broker.config import load_config

ALL = presets.names()


@pytest.mark.parametrize("chosen", [[], *([name] for name in ALL), ALL])
def test_init_writes_a_configuration_that_passes_validate(chosen, tmp_path, capsys):
    path = tmp_path / "broker.yml"
    args = [arg for name in chosen for arg in ("--preset", name)]
    assert main(["init", *args, "--output", str(path)]) == 0
    config = load_config(str(path), environ={})
    assert config.names == (chosen or ["registry"])
    jsonschema.validate(yaml.safe_load(path.read_text()), config_schema.document())
    assert main(["validate", "--config", str(path)]) == 0


def test_presets_know_each_registrys_host_and_token_server(capsys):
    assert main(["init", "--preset", "dockerhub", "--preset", "gitlab", "--preset", "ghcr"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)["registries"]
    assert (config["dockerhub"]["host"], config["dockerhub"]["trusted_realms"]) == (
        "registry-1.docker.io", ["auth.docker.io"])
    assert (config["gitlab"]["host"], config["gitlab"]["trusted_realms"]) == (
        "registry.gitlab.com", ["gitlab.com"])
    assert "trusted_realms" not in config["ghcr"]


def test_init_never_overwrites(tmp_path, capsys):
    path = tmp_path / "broker.yml"
    path.write_text("mine")
    assert main(["init", "--output", str(path)]) == 2
    assert path.read_text() == "mine" and "never overwrites" in capsys.readouterr().err


def test_unknown_presets_list_the_known_ones(capsys):
    with pytest.raises(SystemExit) as info:
        main(["init", "--preset", "nexus"])
    assert info.value.code == 2 and "dockerhub" in capsys.readouterr().err
