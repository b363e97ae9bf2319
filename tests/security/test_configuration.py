"""Second review, findings 2, 5, 6 and 9: what a configuration or a caller can make the broker do.

Attacks: a reference or env backend that reads the function's own AWS credentials; wildcards in
names that become IAM wildcards; a caller's huge event echoed into errors and logs; and a
configuration change that throws away every cached login.
"""

from __future__ import annotations

import json

import pytest

from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext
from broker.config import parse_config
from broker.errors import ConfigError, RegistryNotAllowed
from tests.support import leaks
from tests.support.configs import block
from tests.support.packaging import build


def statements(config, config_source=None):
    """The IAM statements the deployment model derives for ``config``."""
    from broker import deployment

    return deployment.model(config).statements(config_source)



def problems(document) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(document, "test")
    leaks.assert_clean(info.value)
    return dict(info.value.problems)


def one(backend: dict) -> dict:
    return {"registries": {"r": {"host": "r.example", "backend": backend}}}


# --- Finding 2: the function's own AWS credentials --------------------------------------------

VAULT = {"type": "vault", "address": "https://vault.internal", "path": "p"}


@pytest.mark.parametrize("variable", ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                      "AWS_LAMBDA_RUNTIME_API", "_X_AMZN_TRACE_ID", "aws_access_key_id"])
@pytest.mark.parametrize("backend, key", [
    ({**VAULT, "auth": {"method": "token", "token": {"env": "{var}"}}}, "auth.token"),
    ({**VAULT, "auth": {"method": "approle", "role_id": "r", "secret_id": {"env": "{var}"}}},
     "auth.secret_id"),
    ({"type": "env", "username_var": "U", "password_var": "{var}"}, "password_var"),
])
def test_references_to_the_functions_aws_variables_are_refused(variable, backend, key):
    document = one(json.loads(json.dumps(backend).replace("{var}", variable)))
    found = problems(document)
    assert "function's own" in found[f"registries.r.backend.{key}"]


def test_build_refuses_the_env_backend_unless_allowed(tmp_path):
    config = {"registries": {"r": block("r.example")}}
    refused = build(config, tmp_path / "a")
    assert refused.returncode == 2 and "env backend" in refused.stderr
    assert "Traceback" not in refused.stderr
    allowed = build(config, tmp_path / "b", "--allow-env-backend", "--env", "RU=u", "--env", "RP=p")
    assert allowed.returncode == 0, allowed.stderr


# --- Finding 5: wildcards become IAM wildcards ------------------------------------------------

@pytest.mark.parametrize("backend, key", [
    ({"type": "secretsmanager", "secret_id": "prod/*"}, "secret_id"),
    ({"type": "secretsmanager", "secret_id": "prod/reg?"}, "secret_id"),
    ({"type": "ssm", "parameter": "/*"}, "parameter"),
    ({"type": "ssm", "username_parameter": "/u", "password_parameter": "/p*"}, "password_parameter"),
    ({"type": "secretsmanager", "secret_id": "s", "role_arn": "*"}, "role_arn"),
    ({"type": "secretsmanager", "secret_id": "s", "role_arn": "arn:aws:iam::123456789012:role/*"},
     "role_arn"),
    ({"type": "secretsmanager", "secret_id": "s", "kms_key": "*"}, "kms_key"),
    ({"type": "ssm", "parameter": "/p", "kms_key": "alias/*"}, "kms_key"),
    ({"type": "secretsmanager", "secret_id": "s", "region": "*"}, "region"),
    ({"type": "ssm", "parameter": "/p", "region": "eu-west-1?"}, "region"),
    ({**VAULT, "auth": {"method": "token", "token": {"secretsmanager": "vault/*"}}}, "auth.token"),
    ({**VAULT, "auth": {"method": "token", "token": {"ssm": "/vault/tok?"}}}, "auth.token"),
])
def test_wildcards_in_names_and_references_are_refused(backend, key):
    assert f"registries.r.backend.{key}" in problems(one(backend))


@pytest.mark.parametrize("arn", ["arn:aws:iam::123456789012:role/Reader",
                                 "arn:aws-cn:iam::123456789012:role/path/Reader",
                                 "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/"
                                 "1234abcd-12ab-34cd-56ef-1234567890ab"])
def test_arns_of_any_partition_are_accepted(arn):
    key = "role_arn" if ":iam::" in arn else "kms_key"
    config = parse_config(one({"type": "secretsmanager", "secret_id": "s", key: arn}), "t")
    resources = {r for s in statements(config) for r in s["Resource"]}
    assert arn in resources


# --- Finding 6: caller input echoed without bound ---------------------------------------------

def test_a_huge_event_value_is_echoed_truncated(log_lines):
    app = App(json.dumps({"registries": {"a": block("a.example"), "b": block("b.example")}}),
              environ={"RU": "u", "RP": "p"})
    huge = "x" * 5_000_000
    with pytest.raises(RegistryNotAllowed) as info:
        app.invoke({"registry": huge}, LocalContext("a"))
    assert len(str(info.value)) < 2_000 and "[truncated]" in str(info.value)
    line = log_lines()[-1]
    assert len(json.dumps(line)) < 3_000


# --- Finding 9: a configuration change keeps the other registries' cached logins --------------

def test_changing_one_registry_keeps_the_others_cached_logins(aws, moto, proxy_to, clock):
    ssm, secrets = aws("ssm"), aws("secretsmanager")
    for name in ("steady", "changed"):
        secrets.create_secret(Name=f"reload/{name}", SecretString=json.dumps(
            {"username": f"{name}-user", "password": leaks.secret("password")}))
    proxy = proxy_to(moto)
    document = {"registries": {name: {"host": f"{name}.example", "backend": {
        "type": "secretsmanager", "secret_id": f"reload/{name}"}} for name in ("steady", "changed")}}

    def put(doc):
        ssm.put_parameter(Name="/reload/config", Value=json.dumps(doc), Type="String",
                          Overwrite=True)
    put(document)
    app = App("ssm:/reload/config", environ={"BROKER_CONFIG_TTL": "30"}, clock=clock,
              aws=AwsClients(endpoint_url=proxy.url))
    app.invoke({}, LocalContext("steady"))
    document["registries"]["changed"]["invokers"] = ["arn:aws:iam::123456789012:role/New"]
    put(document)
    clock.advance(31)
    app.invoke({}, LocalContext("changed"))  # reloads the configuration
    proxy.stop()  # the store goes down; steady's login is still fresh in the cache
    assert app.invoke({}, LocalContext("steady"))["Credentials"]["Username"] == "steady-user"


def test_configuration_text_reaches_messages_escaped():
    hostile = "\x1b]0;owned\x07\x1b[2J" + "x" * 3000
    with pytest.raises(ConfigError) as info:
        parse_config({"registries": {hostile: {"host": "h.example", hostile: 1,
                                               "backend": {"type": "env"}}}}, "test")
    text = str(info.value)
    assert "\x1b" not in text and "\x07" not in text and len(text) < 4000


@pytest.mark.parametrize("key", ["timeout", "cache_ttl", "stale_if_error"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_tuning_numbers_must_be_finite(key, value):
    found = problems({"registries": {"r": block("r.example", **{key: value})}})
    assert "finite" in found[f"registries.r.{key}"]


@pytest.mark.parametrize("secret_id", ["prod/${aws:PrincipalTag/team}", "prod/${Broker.Arn}",
                                       "prod/{x}"])
def test_names_that_would_become_policy_variables_or_substitutions_are_refused(secret_id):
    """Attacker's read: `$ { }` reached Fn::Sub and IAM as a policy variable."""
    with pytest.raises(ConfigError, match=r"must not hold \* \? \$ \{ or \}"):
        parse_config({"registries": {"r": {"host": "r.example.com", "backend": {
            "type": "secretsmanager", "secret_id": secret_id}}}}, "test")
