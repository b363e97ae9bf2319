"""serverless.yml packaged offline with osls: the template grants exactly what broker.yml names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from broker import iam
from broker.config import parse_config
from deploy.template import logical_id
from tests.support.packaging import ROOT, package

RUNTIME_DEPENDENCIES = {"hvac", "requests", "urllib3", "idna", "charset_normalizer", "certifi"}

def statements(config, config_source=None):
    """The IAM statements the deployment model derives for ``config``."""
    from broker import deployment

    return deployment.model(config).statements(config_source)



def broker_statements(packaged) -> list[dict]:
    """The broker's own statements (serverless adds unnamed ones for logs), Resource as a list."""
    return [{**s, "Resource": s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]}
            for s in packaged.role_statements() if s.get("Sid")]


def iam_resources(packaged) -> set[str]:
    """Every resource the broker's own statements grant."""
    return {r["Fn::Sub"] if isinstance(r, dict) else r
            for s in broker_statements(packaged) for r in s["Resource"]}


def test_role_statements_are_exactly_those_derived_from_the_config(packaged):
    config = parse_config(packaged.config, "example")
    expected = iam.for_cloudformation(statements(config, "/var/task/broker.json"))
    assert broker_statements(packaged) == expected
    assert iam_resources(packaged) == {
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:prod/registry/acme-??????",
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/reg/harbor/user",
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/reg/harbor/pass",
        "arn:aws:iam::111122223333:role/partner-secret-reader",
    }


def test_no_wildcard_beyond_the_secret_suffix(packaged):
    for resource in iam_resources(packaged):
        assert "*" not in resource and resource.count("?") in (0, 6)


def test_adding_a_registry_adds_its_arn_and_removing_it_removes_it(packaged, packaged_plus_one):
    added = iam_resources(packaged_plus_one) - iam_resources(packaged)
    assert added == {"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
                     "secret:team/extra-??????"}
    assert iam_resources(packaged) - iam_resources(packaged_plus_one) == set()


def test_one_alias_per_registry_on_latest(packaged_plus_one):
    aliases = packaged_plus_one.resources("AWS::Lambda::Alias")
    assert sorted(a["Properties"]["Name"] for a in aliases.values()) == sorted(
        ["acme", "harbor", "quay", "partner", "extra_team"])
    for alias in aliases.values():
        assert alias["Properties"]["FunctionName"] == {"Ref": "BrokerLambdaFunction"}
        assert alias["Properties"]["FunctionVersion"] == "$LATEST"
    outputs = packaged_plus_one.template["Outputs"]
    assert outputs["BrokerRoleArn"]["Value"] == {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}
    key = logical_id("AliasArn", "extra_team")
    assert key.startswith("AliasArnExtrateam")
    assert outputs[key]["Value"] == {"Ref": logical_id("Alias", "extra_team")}


def test_invoke_permissions_are_the_configured_roles_on_their_alias(packaged, packaged_plus_one):
    def invokers(p):
        return {(r["Properties"]["FunctionName"]["Ref"], r["Properties"]["Principal"])
                for r in p.resources("AWS::Lambda::Permission").values()
                if r["Properties"]["FunctionName"].get("Ref", "").startswith("Alias")}
    assert invokers(packaged) == set()
    alias = logical_id("Alias", "extra_team")
    assert invokers(packaged_plus_one) == {(alias, "arn:aws:iam::123456789012:role/TrainerA"),
                                           (alias, "arn:aws:iam::123456789012:role/TrainerB")}


def test_function_settings(packaged):
    function = packaged.template["Resources"]["BrokerLambdaFunction"]["Properties"]
    assert function["Handler"] == "broker.handler.handler"
    assert function["Runtime"] == "python3.12" and function["Architectures"] == ["arm64"]
    assert (function["MemorySize"], function["Timeout"]) == (256, 30)
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert function["Environment"]["Variables"] == {"BROKER_CONFIG": "/var/task/broker.json"}
    assert "VpcConfig" not in function
    log_group = packaged.template["Resources"]["BrokerLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == 30


def test_zip_holds_exactly_the_code_config_and_needed_dependencies(packaged):
    tops = {name.split("/")[0] for name in packaged.zip_names}
    packages = {t for t in tops if not t.endswith(".dist-info")}
    assert packages == {"broker", "backends", "broker.json", "broker.pin.json"} | RUNTIME_DEPENDENCIES
    assert not any(n.startswith(("tests/", "examples/", "deploy/")) or "cpython-311" in n
                   for n in packaged.zip_names)
    assert json.loads(packaged.read("broker.json")) == packaged.config


def test_wheels_are_for_the_functions_architecture(packaged, tmp_path, example_config):
    from tests.support.packaging import build

    def machines(names):
        return {n.rsplit("-linux", 1)[0].rsplit("-", 1)[1] for n in names if n.endswith(".so")}
    assert machines(packaged.zip_names) == {"aarch64"}
    assert packaged.template["Resources"]["BrokerLambdaFunction"]["Properties"]["Architectures"] == \
        ["arm64"]
    assert build(example_config, tmp_path, "--arch", "x86_64").returncode == 0
    with zipfile.ZipFile(tmp_path / "build" / "broker.zip") as archive:
        assert machines(archive.namelist()) == {"x86_64"}
    assert json.loads((tmp_path / "build" / "deploy.json").read_text())["architecture"] == "x86_64"


def test_secretsmanager_only_config_ships_no_dependencies(tmp_path):
    config = {"registries": {"acme": {"host": "r.example", "backend": {
        "type": "secretsmanager", "secret_id": "x"}}}}
    result = package(config, tmp_path)
    assert {n.split("/")[0] for n in result.zip_names} == {"broker", "backends", "broker.json",
                                                            "broker.pin.json"}
    assert (result.build / "broker.zip").stat().st_size < 256_000  # vs ~1.6 MB with Vault


def test_packaged_handler_runs_from_the_zip(tmp_path):
    config = {"registries": {"local": {"host": "r.example", "backend": {
        "type": "env", "username_var": "RU", "password_var": "RP"}}}}
    result = package(config, tmp_path / "pkg", build_args=(
        "--allow-env-backend", "--env", "RU=deploy-user", "--env", "RP=deploy-pass"))
    with zipfile.ZipFile(result.build / "broker.zip") as archive:
        archive.extractall(tmp_path / "task")
    code = ("import broker.handler as h; print(h.handler({}, None)['Credentials']['Username'])")
    env = {"PATH": os.environ["PATH"], "LAMBDA_TASK_ROOT": str(tmp_path / "task"),
           "RU": "zip-user", "RP": "zip-pass"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "task", env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "zip-user"
    # only the backends the configuration uses are shipped; the pin refuses another one
    assert not (tmp_path / "task" / "backends" / "vault.py").exists()
    swapped = json.dumps({"registries": {"local": {"host": "r.example", "backend": {
        "type": "gar", "audience": "//iam.googleapis.com/projects/1/locations/global/"
                                   "workloadIdentityPools/p/providers/q"}}}})
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "task",
                          env={**env, "BROKER_CONFIG": swapped}, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "redeploy (make package" in proc.stderr and "ModuleNotFoundError" not in proc.stderr


def lint(template: dict, tmp_path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    cfn_lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    result = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_lints_clean(packaged, tmp_path):
    lint(packaged.template, tmp_path)


def test_vpc_endpoints_and_canary_alarm_template_lints_clean(example_config, tmp_path):
    result = package(example_config, tmp_path, "--param=canary=true", "--param=vpc=true",
                     "--param=vpcEndpoints=true", "--param=vpcId=vpc-0123456789abcdef0",
                     "--param=subnetIds=subnet-0123456789abcdef0,subnet-0123456789abcdef1",
                     "--param=securityGroupIds=sg-0123456789abcdef0")
    lint(result.template, tmp_path)
    resources = result.template["Resources"]
    assert {"CanaryFailureAlarm", "EndpointSecretsManager", "EndpointSts", "EndpointSsm",
            "EndpointKms", "EndpointLambda"} <= set(resources)
    assert resources["EndpointSts"]["Properties"]["PrivateDnsEnabled"] is True
    vpc = resources["BrokerLambdaFunction"]["Properties"]["VpcConfig"]
    assert vpc["SubnetIds"] == {"Fn::Split": [",", "subnet-0123456789abcdef0,"
                                                   "subnet-0123456789abcdef1"]}
    rules = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert [r["Properties"]["State"] for r in rules] == ["ENABLED"]


def test_build_without_serverless_reports_the_zip_size(tmp_path, example_config):
    out = subprocess.run([sys.executable, str(ROOT / "deploy" / "build.py"), "--config",
                          str(ROOT / "examples" / "broker.yml"), "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    assert "KiB, 4 registries, BROKER_CONFIG=/var/task/broker.json" in out


# --- Issue 17, item 7: the canary, its alarms, and the broker's own metrics ------------------

def test_without_the_canary_there_is_no_canary_function(packaged):
    assert list(packaged.resources("AWS::Lambda::Function")) == ["BrokerLambdaFunction"]
    assert not packaged.resources("AWS::Events::Rule")


def test_the_canary_alarms_notify_the_alarm_topic(example_config, tmp_path):
    topic = "arn:aws:sns:us-east-1:123456789012:registry-alarms"
    result = package(example_config, tmp_path, "--param=canary=true",
                     f"--param=alarmTopicArn={topic}")
    lint(result.template, tmp_path)
    alarms = result.resources("AWS::CloudWatch::Alarm")
    assert set(alarms) == {"CanaryFailureAlarm", "CanaryErrorsAlarm"}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == {"Fn::If": [
            "HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert result.template["Parameters"]["AlarmTopicArn"]["Default"] == topic
    assert result.template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


def test_the_stack_ships_a_dashboard_of_every_registry(packaged):
    dashboard, = packaged.resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    served = body["widgets"][0]["properties"]["metrics"]
    assert sorted(m[3] for m in served) == sorted(packaged.config["registries"])
    assert {m[1] for w in body["widgets"] for m in w["properties"]["metrics"]} == {
        "Served", "Failed", "Duration"}


# --- Issue 17, item 8: the template passes a security scanner ------------------------------

@pytest.fixture(scope="session")
def scanner():
    from tests.conftest import unavailable
    from tests.support.scanner import ScannerUnavailable, checkov

    try:
        return checkov()
    except ScannerUnavailable as exc:
        unavailable(f"checkov cannot be installed: {exc}")


def scanned(scanner, template: dict, tmp_path) -> dict:
    from tests.support.scanner import scan

    results = scan(scanner, template, tmp_path)["results"]
    return {"failed": [(c["check_id"], c["resource"]) for c in results["failed_checks"]],
            "skipped": {(c["check_id"], c["resource"]): c.get("check_result", {}).get(
                "suppress_comment", "") for c in results["skipped_checks"]},
            "passed": len(results["passed_checks"])}


def test_checkov_finds_nothing_unexplained_in_the_default_template(scanner, packaged, tmp_path):
    found = scanned(scanner, packaged.template, tmp_path)
    assert found["failed"] == []
    assert all(len(reason) > 20 for reason in found["skipped"].values()), found["skipped"]
    bucket = packaged.template["Resources"]["ServerlessDeploymentBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())


def test_checkov_passes_with_the_canary_vpc_and_every_key(scanner, example_config, tmp_path):
    key = "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-abcd-0123-0123456789ab"
    result = package(example_config, tmp_path, "--param=canary=true", "--param=vpc=true",
                     "--param=subnetIds=subnet-0123456789abcdef0",
                     "--param=securityGroupIds=sg-0123456789abcdef0", f"--param=kmsKeyArn={key}",
                     f"--param=logKmsKeyArn={key}", "--param=reservedConcurrency=20")
    lint(result.template, tmp_path)
    found = scanned(scanner, result.template, tmp_path)
    assert found["failed"] == []
    function = result.template["Resources"]["BrokerLambdaFunction"]["Properties"]
    assert (function["KmsKeyArn"], function["ReservedConcurrentExecutions"]) == (key, 20)
    assert result.template["Resources"]["BrokerLogGroup"]["Properties"]["KmsKeyId"] == key
