"""The rotation function as packaged: present only with a `rotation` block, its own role
granting its rotated secrets and admin references only, the broker's role unchanged, only
Secrets Manager allowed to invoke it, a schedule per rotated secret; lint- and checkov-clean."""

from __future__ import annotations

import json

import pytest

from deploy.template import logical_id
from tests.deploy.test_package import broker_statements, lint, scanned, scanner  # noqa: F401
from tests.support.packaging import package

ROTATED = {
    "host": "harbor.example.com", "repository": "team/trainer",
    "backend": {"type": "secretsmanager", "secret_id": "prod/registry/harbor",
                "kms_key": "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-abcd-0123-0123456789ab"},
    "rotation": {"type": "harbor-robot", "schedule": "rate(30 days)", "url": "https://harbor.example.com",
                 "admin": {"secretsmanager": "prod/registry/harbor-admin"}, "robots": [7, 8]}}
PLAIN = {"host": "other.example.com",
         "backend": {"type": "secretsmanager", "secret_id": "prod/registry/other"}}
TOPIC = "arn:aws:sns:us-east-1:123456789012:registry-alarms"
SECRET = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
# The secret's key names its region (the backend reads it there): so do the grants.
SECRET_IN_KEY_REGION = SECRET.replace("${AWS::Region}", "us-east-1")


@pytest.fixture(scope="session")
def rotating(tmp_path_factory):
    return package({"registries": {"harbor": ROTATED, "plain": PLAIN}},
                   tmp_path_factory.mktemp("rotating"), f"--param=alarmTopicArn={TOPIC}")


@pytest.fixture(scope="session")
def not_rotating(tmp_path_factory):
    harbor = {k: v for k, v in ROTATED.items() if k != "rotation"}
    return package({"registries": {"harbor": harbor, "plain": PLAIN}},
                   tmp_path_factory.mktemp("not-rotating"))


def rotation_statements(packaged) -> list[dict]:
    role = packaged.template["Resources"]["RotationRole"]["Properties"]
    return role["Policies"][0]["PolicyDocument"]["Statement"]


def test_the_rotation_role_grants_its_secret_its_admin_and_its_key_only(rotating):
    statements = {s["Sid"]: s for s in rotation_statements(rotating)}
    assert set(statements) == {"WriteOwnLogs", "RotateRegistrySecrets", "ReadRegistrySecrets",
                               "EncryptAndDecryptSecretsWithKey1"}
    assert statements["RotateRegistrySecrets"]["Resource"] == [
        {"Fn::Sub": f"{SECRET_IN_KEY_REGION}prod/registry/harbor-??????"}]
    assert statements["RotateRegistrySecrets"]["Action"] == [
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
        "secretsmanager:ListSecretVersionIds", "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage"]
    assert statements["ReadRegistrySecrets"]["Resource"] == [
        {"Fn::Sub": f"{SECRET}prod/registry/harbor-admin-??????"}]
    key = statements["EncryptAndDecryptSecretsWithKey1"]
    assert key["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert key["Resource"] == [ROTATED["backend"]["kms_key"]]
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": [
        "secretsmanager.us-east-1.amazonaws.com"]}}
    logs = statements["WriteOwnLogs"]["Resource"]
    assert logs == [{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:"
                                "log-group:/aws/lambda/${AWS::StackName}-rotation:*"}]
    function = rotating.template["Resources"]["RotationLambdaFunction"]["Properties"]
    assert function["Role"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RotationRole}"}
    assert function["FunctionName"] == "registry-broker-dev-rotation"
    assert function["Environment"]["Variables"]["BROKER_ROTATION_CONFIG"] == "/var/task/broker.json"


def test_the_brokers_role_gains_nothing(rotating, not_rotating):
    assert broker_statements(rotating) == broker_statements(not_rotating)
    assert "admin" not in json.dumps(broker_statements(rotating))


def test_only_secrets_manager_may_invoke_it_for_this_accounts_rotated_secret(rotating):
    permissions = rotating.resources("AWS::Lambda::Permission")
    assert list(permissions) == [logical_id("RotationPermission", "harbor")]
    properties, = (p["Properties"] for p in permissions.values())
    assert properties == {
        "Action": "lambda:InvokeFunction", "FunctionName": {"Fn::GetAtt": [
            "RotationLambdaFunction", "Arn"]}, "Principal": "secretsmanager.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
        "SourceArn": {"Fn::Sub": f"{SECRET_IN_KEY_REGION}prod/registry/harbor-??????"}}


def test_one_schedule_per_rotated_secret_that_waits_for_the_first_rotation(rotating):
    schedule, = rotating.resources("AWS::SecretsManager::RotationSchedule").values()
    assert schedule["Properties"] == {
        "SecretId": "prod/registry/harbor", "RotateImmediatelyOnUpdate": False,
        "RotationLambdaARN": {"Fn::GetAtt": ["RotationLambdaFunction", "Arn"]},
        "RotationRules": {"ScheduleExpression": "rate(30 days)"}}
    assert schedule["DependsOn"] == [logical_id("RotationPermission", "harbor")]


def test_failed_rotations_raise_an_alarm_that_notifies_the_topic(rotating):
    alarms = rotating.resources("AWS::CloudWatch::Alarm")
    assert set(alarms) == {"RotationFailureAlarm", "RotationErrorsAlarm"}
    assert alarms["RotationFailureAlarm"]["Properties"]["MetricName"] == "RotationFailed"
    assert rotating.template["Parameters"]["RotationAlarmTopicArn"]["Default"] == TOPIC


def test_without_a_rotation_block_there_is_no_rotation_function(not_rotating):
    assert list(not_rotating.resources("AWS::Lambda::Function")) == ["BrokerLambdaFunction"]
    assert "RotationRole" not in not_rotating.template["Resources"]


def test_the_rotating_template_lints_clean(rotating, tmp_path):
    lint(rotating.template, tmp_path)


def test_checkov_finds_nothing_unexplained_with_rotation(scanner, rotating, tmp_path):  # noqa: F811
    found = scanned(scanner, rotating.template, tmp_path)
    assert found["failed"] == []
    assert all(len(reason) > 20 for reason in found["skipped"].values())


def _build(tmp_path, rotation: dict, *args: str):
    from tests.support.packaging import build

    registry = {**ROTATED, "backend": {"type": "secretsmanager", "secret_id": "prod/r"},
                "rotation": {**ROTATED["rotation"], **rotation}}
    return build({"registries": {"harbor": registry}}, tmp_path, *args)


def test_an_admin_credential_in_the_environment_is_refused_by_the_build(tmp_path):
    """It would sit in every function's environment, the one every team invokes too."""
    refused = _build(tmp_path, {"admin": {"env": "HARBOR_ADMIN"}}, "--env", "HARBOR_ADMIN=x")
    assert refused.returncode == 2
    assert "the rotation's admin credential is an {env: ...} reference" in refused.stderr
    missing = _build(tmp_path, {"admin": {"env": "HARBOR_ADMIN"}}, "--allow-env-backend")
    assert missing.returncode == 2
    assert "registries.harbor.rotation.admin: reads HARBOR_ADMIN" in missing.stderr


def test_the_rotations_ca_bundle_is_shipped_and_pointed_at(tmp_path):
    import zipfile

    ca = tmp_path / "harbor-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    built = _build(tmp_path, {"ca_bundle": str(ca)})
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(tmp_path / "build" / "broker.zip") as archive:
        packaged = json.loads(archive.read("broker.json"))
        shipped = packaged["registries"]["harbor"]["rotation"]["ca_bundle"]
        assert shipped.startswith("ca/") and archive.read(shipped) == ca.read_bytes()


def test_a_rotated_secret_in_another_region_is_refused(tmp_path):
    from tests.support.packaging import build

    registry = {**ROTATED, "backend": {"type": "secretsmanager", "secret_id": "prod/r",
                                       "region": "eu-west-1"}}
    built = build({"registries": {"harbor": registry}}, tmp_path, "--region", "us-east-1")
    assert built.returncode == 2
    assert "rotate a secret outside the stage's region us-east-1" in built.stderr
