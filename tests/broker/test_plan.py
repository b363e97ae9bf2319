"""`broker plan`: per registry, the alias ARN, its invokers, its grants and its login's store."""

from __future__ import annotations

import json
from pathlib import Path

from broker.cli import main

EXAMPLE = str(Path(__file__).parents[2] / "examples" / "broker.yml")
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:registry-broker-prod-broker"


def test_plan_json_per_registry(capsys):
    assert main(["plan", "--config", EXAMPLE, "--stage", "prod", "--region", "eu-west-1",
                 "--account", "123456789012", "--json"]) == 0
    entries = {e["registry"]: e for e in json.loads(capsys.readouterr().out)}
    assert list(entries) == ["acme", "harbor", "quay", "partner"]
    assert entries["acme"]["alias_arn"] == f"{FUNCTION}:acme"
    assert entries["acme"]["grants"] == [
        "secretsmanager:GetSecretValue on arn:aws:secretsmanager:eu-west-1:123456789012:"
        "secret:prod/registry/acme-??????"]
    assert entries["partner"]["grants"] == [
        "sts:AssumeRole on arn:aws:iam::111122223333:role/partner-secret-reader"]
    assert entries["harbor"]["reference"] == "parameters /reg/harbor/user, /reg/harbor/pass"
    assert entries["quay"]["grants"] == [] and "BrokerRoleArn" in entries["quay"]["notes"][0]


def test_plan_table_and_invokers(capsys, tmp_path):
    path = tmp_path / "broker.yml"
    path.write_text("registries:\n  team:\n    host: team.example\n"
                    "    invokers: [arn:aws:iam::123456789012:role/Trainer]\n"
                    "    backend: {type: secretsmanager, secret_id: team/login}\n")
    assert main(["plan", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "team (team.example)" in out
    assert "function:registry-broker-dev-broker:team" in out
    assert "invokers:   arn:aws:iam::123456789012:role/Trainer" in out


def test_a_passwordless_artifactory_says_what_to_map_and_prints_the_role():
    from broker.config import parse_config
    from broker.plan import plan, table

    config = parse_config({"registries": {"jfrog": {"host": "acme.jfrog.io", "backend": {
        "type": "artifactory", "url": "https://acme.jfrog.io"}}}}, "t")
    entry, = plan(config, stage="prod", region="eu-west-1", account="123456789012")
    assert entry["mints_as"] == "arn:aws:iam::123456789012:role/registry-broker-prod-eu-west-1-lambdaRole"
    assert entry["scope"].startswith("cannot scope")
    assert "PUT https://acme.jfrog.io/access/api/v1/aws/iam_role" in entry["notes"][0]
    assert "  mints as:   arn:aws:iam::123456789012:role/" in table([entry])


def test_plan_says_what_each_minted_login_is_scoped_to():
    from broker.config import parse_config
    from broker.plan import plan

    config = parse_config({"registries": {
        "ecr": {"host": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "backend": {
            "type": "ecr", "repositories": ["team/trainer"],
            "role_arn": "arn:aws:iam::123456789012:role/puller"}},
        "gar": {"host": "us-docker.pkg.dev", "backend": {
            "type": "gar", "audience": "//iam.googleapis.com/projects/1/locations/global/"
                                       "workloadIdentityPools/p/providers/q"}},
        "stored": {"host": "r.example", "backend": {"type": "secretsmanager", "secret_id": "s"}},
    }}, "t")
    scopes = {e["registry"]: e.get("scope") for e in plan(config)}
    assert scopes["ecr"].startswith("pull only, on team/trainer")
    assert scopes["gar"].startswith("reading only (cloud-platform.read-only")
    assert scopes["stored"] is None
    assert {e["registry"]: e.get("mints_as") for e in plan(config)}["ecr"] == \
        "role arn:aws:iam::123456789012:role/puller"
