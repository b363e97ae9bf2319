"""Promise 1: a role allowed to invoke one registry's alias gets that registry's login, no other.

Attacks: a SageMaker role holding AWS's managed policies, an unqualified or oddly qualified
invocation, registry names that collide in CloudFormation, and a writer of the ``ssm:``
configuration parameter.
"""

from __future__ import annotations

import json
import zipfile

import pytest

from broker import deployment
from broker.app import App
from broker.aws import AwsClients
from broker.cli import LocalContext, main
from broker.config import parse_config
from broker.errors import ConfigError, RegistryNotAllowed, RegistryNotSelected
from deploy.template import deploy_document
from tests.support import leaks
from tests.support.configs import block, env_backend
from tests.support.iam_eval import allows, managed_policies, managed_policy
from tests.support.packaging import build
from tests.support.scripted import challenge

# Managed policies often attached to SageMaker execution roles that grant lambda:InvokeFunction
# on function-name patterns (AmazonSageMakerFullAccess is the one the SageMaker docs attach).
SAGEMAKER_POLICIES = ("AmazonSageMakerFullAccess", "AmazonSageMakerGroundTruthExecution",
                      "AmazonSageMakerPipelinesIntegrations",
                      "AmazonSageMakerModelCustomizationCoreAccess")


# --- Finding 1: the function name -------------------------------------------------------------

def deployed_arns(packaged) -> list[str]:
    """Every ARN a caller could invoke: each function, unqualified and through each qualifier."""
    functions = [f["Properties"]["FunctionName"]
                 for f in packaged.resources("AWS::Lambda::Function").values()]
    qualifiers = [a["Properties"]["Name"] for a in packaged.resources("AWS::Lambda::Alias").values()]
    base = "arn:aws:lambda:eu-west-1:123456789012:function:"
    return [base + f + q for f in functions for q in ["", ":$LATEST", ":1",
                                                       *(f":{a}" for a in qualifiers)]]


@pytest.mark.parametrize("policy", SAGEMAKER_POLICIES)
def test_no_deployed_arn_is_invocable_through_a_sagemaker_managed_policy(packaged_plus_one, policy):
    document = managed_policy(policy)
    arns = deployed_arns(packaged_plus_one)
    assert len(arns) == 8, "one function (no canary by default): unqualified, $LATEST, a version, 5 aliases"
    granted = {arn: allows(document, "lambda:InvokeFunction", arn) for arn in arns}
    assert {arn: patterns for arn, patterns in granted.items() if patterns} == {}
    assert not any("sagemaker" in arn.lower() for arn in arns)


def test_no_deployed_arn_is_invocable_through_any_managed_policy(packaged_plus_one):
    """Third review, finding 2: every AWS managed policy moto ships, not four. Those that allow
    invoking every function (AdministratorAccess, AWSLambdaRole, ...) are the documented
    limit; every other unconditioned grant must miss every deployed ARN."""
    from broker.managed_policies import EVERY_FUNCTION

    arns = deployed_arns(packaged_plus_one)
    policies = {n: d for n, d in managed_policies().items() if n not in EVERY_FUNCTION}
    assert len(policies) > 1000, "moto ships every AWS managed policy"
    granted = {(name, arn): found for name, document in policies.items() for arn in arns
               if (found := allows(document, "lambda:InvokeFunction", arn, unconditioned=True))}
    assert granted == {}


def sample_names() -> list[tuple[str, str, str]]:
    """For each unconditioned invoke pattern in moto's managed policies: a name it matches,
    where it sits (alias or function), and the pattern."""
    import importlib.util

    from tests.support.packaging import ROOT

    spec = importlib.util.spec_from_file_location("refresh", ROOT / "deploy" / "refresh_policies.py")
    refresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refresh)
    patterns, _ = refresh.derive({n: {"Document": d} for n, d in managed_policies().items()})
    found = []
    for pattern in patterns:
        body = pattern.split(":function:", 1)[1]
        if body.startswith("*:"):
            found.append((body[2:].replace("*", "x"), "alias", pattern))
        elif body.startswith("*"):
            found.append(("x" + body.strip("*").replace("*", "x") + "x", "alias", pattern))
        else:
            found.append((body.replace("*", "x"), "function", pattern))
    return found


@pytest.mark.parametrize("name, where, pattern", sample_names(), ids=lambda v: str(v)[:40])
def test_every_managed_policy_pattern_refuses_the_names_it_matches(name, where, pattern):
    from broker.names import PROBES, iam_match, managed_policy_risk

    assert any(iam_match(pattern, probe.format(name)) for probe in PROBES[where])  # the sample
    risk = managed_policy_risk(name, where)
    assert risk is not None and "with no condition" in risk
    if where == "alias":
        with pytest.raises(ConfigError, match="AWS managed polic"):
            parse_config({"registries": {name: block("r.example.com")}}, "test")


@pytest.mark.parametrize("name", ["SSMImages", "SSM-mirror", "hdr-cache", "redshift-udfs"])
def test_alias_names_other_managed_policies_grant_are_refused(name):
    """AmazonSSMMaintenanceWindowRole allows invoking ``function:*:SSM*``, with no condition:
    an alias named SSM... is invocable by every holder (AWSDeepRacerServiceRolePolicy's
    ``*dr-*`` and AmazonRedshiftAllCommandsFullAccess's ``*redshift*`` likewise)."""
    with pytest.raises(ConfigError, match="AWS managed polic"):
        parse_config({"registries": {name: block("r.example.com")}}, "test")


@pytest.mark.parametrize("name", ["ssm-images", "team-SAGEMAKERx", "images", "xSSM"])
def test_names_iam_would_not_match_pass(name):
    """IAM's matching is case-sensitive, and ``function:SSM*`` is about function names, not
    aliases: these aliases are invocable only by those the alias's permissions name."""
    assert name in parse_config({"registries": {name: block("r.example.com")}}, "test").registries


def test_the_committed_pattern_table_is_what_the_managed_policies_give():
    import subprocess
    import sys

    from tests.support.packaging import ROOT

    proc = subprocess.run([sys.executable, str(ROOT / "deploy" / "refresh_policies.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("args, config_change", [
    (["--stage", "SageMakerProd"], {}),
    ([], {"sagemaker_models": {"host": "models.example.com", "backend": {
        "type": "secretsmanager", "secret_id": "models"}}}),
])
def test_build_refuses_a_name_a_sagemaker_managed_policy_matches(tmp_path, example_config, args,
                                                                  config_change):
    config = {**example_config, "registries": {**example_config["registries"], **config_change}}
    proc = build(config, tmp_path, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "AmazonSageMakerFullAccess" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "build" / "broker.zip").exists()


def test_build_refuses_a_service_named_after_sagemaker(tmp_path, example_config):
    from tests.support.packaging import ROOT

    serverless = tmp_path / "serverless.yml"
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "optional.yml").write_text((ROOT / "deploy" / "optional.yml").read_text())
    text = (ROOT / "serverless.yml").read_text()
    serverless.write_text(text.replace("\nservice: registry-broker\n", "\nservice: sagemaker-creds\n"))
    assert "sagemaker-creds" in serverless.read_text()
    proc = build(example_config, tmp_path, "--serverless", str(serverless))
    assert proc.returncode == 2 and "service 'sagemaker-creds'" in proc.stderr, proc.stderr


# --- Finding 2: unqualified invocations fail closed -------------------------------------------

TWO = {"registries": {"a": block("a.example", backend=env_backend("A_U", "A_P")),
                      "b": block("b.example", backend=env_backend("B_U", "B_P"))}}
LOGINS = {"A_U": "user-a", "A_P": "pass-a", "B_U": "user-b", "B_P": "pass-b"}


def lambda_app(config: dict, **environ: str) -> App:
    return App(json.dumps(config), environ={**LOGINS, **environ})


@pytest.mark.parametrize("qualifier", [None, "$LATEST", "7", "provisioned", "A", "b "])
@pytest.mark.parametrize("event", [{}, {"registry": "b"}, {"image": "b.example/team/x:1"}])
def test_an_invocation_not_through_a_registry_alias_is_refused(qualifier, event):
    with pytest.raises(RegistryNotAllowed, match="not through a registry's alias"):
        lambda_app(TWO).invoke(event, LocalContext(qualifier))


def test_broker_registry_pins_an_unqualified_invocation():
    app = lambda_app(TWO, BROKER_REGISTRY="b")
    assert app.invoke({}, LocalContext())["Credentials"]["Username"] == "user-b"
    with pytest.raises(RegistryNotAllowed):
        app.invoke({"registry": "a"}, LocalContext("provisioned"))


def test_broker_registry_refuses_the_alias_of_another_registry():
    app = lambda_app(TWO, BROKER_REGISTRY="b")
    assert app.invoke({}, LocalContext("b"))["Credentials"]["Username"] == "user-b"
    with pytest.raises(RegistryNotAllowed, match="BROKER_REGISTRY"):
        app.invoke({}, LocalContext("a"))


def test_event_selection_is_an_explicit_opt_in():
    app = lambda_app({**TWO, "event_selection": True})
    assert app.invoke({"registry": "b"}, LocalContext())["Credentials"]["Username"] == "user-b"
    assert app.invoke({"image": "a.example/x:1"}, LocalContext("7"))["Credentials"]["Username"] == \
        "user-a"
    with pytest.raises(RegistryNotAllowed):  # an alias still pins, opt-in or not
        app.invoke({"registry": "b"}, LocalContext("a"))
    with pytest.raises(RegistryNotSelected):
        app.invoke({}, LocalContext())


def test_a_single_registry_is_still_served_unqualified():
    app = lambda_app({"registries": {"a": TWO["registries"]["a"]}})
    assert app.invoke({}, LocalContext())["Credentials"]["Username"] == "user-a"


def test_the_cli_still_selects_by_event_for_local_runs(tmp_path, capsys, monkeypatch):
    for name, value in LOGINS.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "broker.json"
    path.write_text(json.dumps(TWO))
    assert main(["invoke", "--config", str(path), "--registry", "b"]) == 0
    assert json.loads(capsys.readouterr().out)["Credentials"]["Username"] == "user-b"


# --- Finding 3: CloudFormation logical ids ----------------------------------------------------

def test_registry_names_differing_only_in_letter_case_are_refused():
    registries = {name: block(f"{name.lower()}.example") for name in ("ml", "Ml")}
    with pytest.raises(ConfigError) as info:
        parse_config({"registries": registries}, "test")
    assert "registries.Ml" in str(info.value) and "'ml'" in str(info.value)


def test_logical_ids_never_collide():
    names = ["a-b", "aDashb", "a_b", "aUnderb", "ab", "AB2", "ab2"]
    names.remove("AB2")  # case-only pairs are refused above; everything else must stay apart
    config = parse_config({"registries": {
        name: block(f"{name.lower().replace('_', '-')}.example",
                    invokers=[f"arn:aws:iam::123456789012:role/Team{i}"])
        for i, name in enumerate(names)}}, "test")
    document = deploy_document(deployment.model(config), "/var/task/broker.json")
    resources = document["resources"]
    aliases = {k: v["Properties"]["Name"] for k, v in resources.items()
               if v["Type"] == "AWS::Lambda::Alias"}
    assert sorted(aliases.values()) == sorted(names)
    granted = {(aliases[v["Properties"]["FunctionName"]["Ref"]], v["Properties"]["Principal"])
               for v in resources.values() if v["Type"] == "AWS::Lambda::Permission"}
    assert granted == {(name, f"arn:aws:iam::123456789012:role/Team{i}")
                       for i, name in enumerate(names)}
    assert len(document["outputs"]) == len(names) + 2  # and BrokerRoleArn, BrokerFunctionArn


def test_no_invoke_permission_on_the_unqualified_broker_function(packaged_plus_one):
    permissions = packaged_plus_one.resources("AWS::Lambda::Permission").values()
    aliases = packaged_plus_one.resources("AWS::Lambda::Alias")
    targets = [p["Properties"]["FunctionName"] for p in permissions]
    broker_targets = [t for t in targets if "Canary" not in json.dumps(t)]
    assert broker_targets and all(t["Ref"] in aliases for t in broker_targets)


# --- Finding 4: a writer of the ssm: configuration --------------------------------------------

PARAMETER = "/pin-test/config"


@pytest.fixture
def pinned(aws, moto, tmp_path, clock, scripted):
    """A deployment reading its configuration from SSM, with the pin its build wrote."""
    for name in ("acme", "other"):
        aws("secretsmanager").create_secret(Name=f"pin/{tmp_path.name}/{name}", SecretString=json.dumps(
            {"username": f"{name}-robot", "password": leaks.secret("password")}))
    config = {"registries": {name: {"host": f"registry.{name}.example", "backend": {
        "type": "secretsmanager", "secret_id": f"pin/{tmp_path.name}/{name}"}}
        for name in ("acme", "other")}}
    proc = build(config, tmp_path, "--config-source", f"ssm:{PARAMETER}")
    assert proc.returncode == 0, proc.stderr
    task = tmp_path / "task"
    with zipfile.ZipFile(tmp_path / "build" / "broker.zip") as archive:
        archive.extract("broker.pin.json", task)
    ssm = aws("ssm")

    def put(document: dict) -> None:
        ssm.put_parameter(Name=PARAMETER, Value=json.dumps(document), Type="String", Overwrite=True)

    def app() -> App:
        return App(environ={"BROKER_CONFIG": f"ssm:{PARAMETER}", "LAMBDA_TASK_ROOT": str(task)},
                   aws=AwsClients(endpoint_url=moto.url), clock=clock)
    put(config)
    return config, put, app


def test_a_repointed_host_is_refused_and_the_last_good_config_kept(pinned, scripted, clock,
                                                                   log_lines):
    config, put, make_app = pinned
    app = make_app()
    assert app.invoke({}, LocalContext("acme"))["Credentials"]["Username"] == "acme-robot"
    evil = scripted().on("/v2/", challenge('Basic realm="evil"'))
    tampered = json.loads(json.dumps(config))
    tampered["registries"]["acme"].update(host=evil.netloc, insecure=True, preflight="warn",
                                          cache_ttl=0)
    put(tampered)
    clock.advance(301)
    assert app.invoke({}, LocalContext("acme"))["Credentials"]["Username"] == "acme-robot"
    assert evil.requests == [], "the login went to the host the attacker wrote"
    failed = [line for line in log_lines() if line["event"] == "config_reload_failed"]
    assert failed and "registries.acme.host" in failed[0]["error"]
    with pytest.raises(ConfigError, match="registries.acme.host.*pinned"):
        make_app().invoke({}, LocalContext("acme"))


@pytest.mark.parametrize("change", [
    lambda c: c["registries"].update(extra={"host": "x.example", "backend": {
        "type": "secretsmanager", "secret_id": "other"}}),
    lambda c: c["registries"]["acme"]["backend"].update(secret_id="someone/else"),
    lambda c: c["registries"]["acme"].update(trusted_realms=["*.evil.example"]),
    lambda c: c.update(event_selection=True),
])
def test_adding_a_registry_or_changing_a_pinned_key_is_refused(pinned, change):
    config, put, make_app = pinned
    tampered = json.loads(json.dumps(config))
    change(tampered)
    put(tampered)
    with pytest.raises(ConfigError, match="pinned"):
        make_app().invoke({}, LocalContext("acme"))


def test_dropping_a_registry_never_hands_its_alias_another_login(pinned, clock):
    config, put, make_app = pinned
    app = make_app()
    assert app.invoke({}, LocalContext("acme"))["Credentials"]["Username"] == "acme-robot"
    dropped = {"registries": {"other": config["registries"]["other"]}}
    put(dropped)
    clock.advance(301)
    for fresh in (app, make_app()):
        with pytest.raises(RegistryNotAllowed, match="'acme'"):
            fresh.invoke({}, LocalContext("acme"))
        with pytest.raises(RegistryNotAllowed):  # the deployment pinned two registries
            fresh.invoke({}, LocalContext())
        assert fresh.invoke({}, LocalContext("other"))["Credentials"]["Username"] == "other-robot"


def test_tuning_keys_may_change_at_run_time(pinned, clock):
    config, put, make_app = pinned
    app = make_app()
    app.invoke({}, LocalContext("acme"))
    tuned = json.loads(json.dumps(config))
    tuned["registries"]["acme"].update(cache_ttl=5, retries=0)
    put(tuned)
    clock.advance(301)
    app.invoke({}, LocalContext("acme"))
    assert app.broker().config.registries["acme"].cache_ttl == 5


def test_an_ssm_config_in_lambda_without_a_pin_is_refused(aws, moto, tmp_path):
    aws("ssm").put_parameter(Name="/pin-test/unpinned", Type="String", Overwrite=True,
                             Value=json.dumps({"registries": {"r": block("r.example")}}))
    app = App(environ={"BROKER_CONFIG": "ssm:/pin-test/unpinned", "LAMBDA_TASK_ROOT": str(tmp_path),
                       "RU": "u", "RP": "p"}, aws=AwsClients(endpoint_url=moto.url))
    with pytest.raises(ConfigError, match="broker.pin.json"):
        app.invoke({}, LocalContext("r"))
