"""IAM derived from the configuration, and `broker iam-policy`."""

from __future__ import annotations

import json

from broker import iam
from broker.cli import main
from broker.config import parse_config

ENV = {"type": "env", "username_var": "U", "password_var": "P"}

def statements(config, config_source=None):
    """The IAM statements the deployment model derives for ``config``."""
    from broker import deployment

    return deployment.model(config).statements(config_source)



def config(**backends):
    return parse_config({"registries": {name: {"host": f"{name}.example", "backend": backend}
                                        for name, backend in backends.items()}}, "test")


def by_sid(statements):
    return {s["Sid"]: s for s in statements}


def test_secret_names_get_the_random_suffix_and_arns_stay_as_given():
    found = by_sid(statements(config(
        a={"type": "secretsmanager", "secret_id": "team/a"},
        b={"type": "secretsmanager", "secret_id": "arn:aws:secretsmanager:eu-west-1:1:secret:b-AbCdEf"},
        c={"type": "secretsmanager", "secret_id": "c", "region": "ap-south-1"})))
    assert found["ReadRegistrySecrets"]["Resource"] == [
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:team/a-??????",
        "arn:${AWS::Partition}:secretsmanager:ap-south-1:${AWS::AccountId}:secret:c-??????",
        "arn:aws:secretsmanager:eu-west-1:1:secret:b-AbCdEf"]
    assert found["ReadRegistrySecrets"]["Action"] == ["secretsmanager:GetSecretValue"]


def test_role_arn_replaces_the_direct_grant():
    found = by_sid(statements(config(a={"type": "ssm", "parameter": "/x",
                                            "role_arn": "arn:aws:iam::111122223333:role/r"})))
    assert set(found) == {"AssumeSecretRoles"}
    assert found["AssumeSecretRoles"]["Resource"] == ["arn:aws:iam::111122223333:role/r"]


def test_kms_decrypt_only_with_a_key_and_only_via_the_service():
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    found = by_sid(statements(config(
        a={"type": "secretsmanager", "secret_id": "a", "kms_key": key, "region": "eu-west-1"},
        b={"type": "ssm", "parameter": "/b", "kms_key": key},
        c={"type": "secretsmanager", "secret_id": "c"})))
    decrypt = found["DecryptSecretsWithKey1"]
    assert decrypt["Resource"] == [key] and decrypt["Action"] == ["kms:Decrypt"]
    # b names no region: its key does, and a SecureString is read in its key's region
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": [
        "secretsmanager.eu-west-1.amazonaws.com", "ssm.eu-west-1.amazonaws.com"]}}
    assert len([s for s in found if s.startswith("Decrypt")]) == 1


def test_vault_references_in_aws_are_granted_env_ones_are_not():
    vault = {"type": "vault", "address": "https://v:8200", "path": "p", "auth": {
        "method": "approle", "role_id": {"ssm": "/vault/role-id"},
        "secret_id": {"secretsmanager": "vault/secret-id"}}}
    found = by_sid(statements(config(v=vault, e=ENV)))
    assert found["ReadRegistrySecrets"]["Resource"] == [
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:vault/secret-id-??????"]
    assert found["ReadRegistryParameters"]["Resource"] == [
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/vault/role-id"]


def test_ssm_config_source_is_granted():
    found = by_sid(statements(config(e=ENV), "ssm:/broker/config"))
    assert found["ReadRegistryParameters"]["Resource"] == [
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/broker/config"]
    assert statements(config(e=ENV), "/var/task/broker.json") == []


def test_cloudformation_form_subs_only_placeholders():
    found = statements(config(a={"type": "ssm", "parameter": "/x",
                                 "role_arn": "arn:aws:iam::111122223333:role/r"},
                              b={"type": "secretsmanager", "secret_id": "b"}))
    cfn = by_sid(iam.for_cloudformation(found))
    assert cfn["AssumeSecretRoles"]["Resource"] == ["arn:aws:iam::111122223333:role/r"]
    assert cfn["ReadRegistrySecrets"]["Resource"][0] == {"Fn::Sub": (
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:b-??????")}


def test_iam_policy_command(capsys, tmp_path):
    path = tmp_path / "broker.json"
    path.write_text(json.dumps({"registries": {"a": {"host": "a", "backend": {
        "type": "secretsmanager", "secret_id": "team/a"}}}}))
    assert main(["iam-policy", "--config", str(path), "--region", "eu-west-1",
                 "--account", "123456789012"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["Version"] == "2012-10-17"
    assert document["Statement"][0]["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/a-??????"]
    assert main(["iam-policy", "--config", str(path)]) == 0
    assert "${AWS::AccountId}" in capsys.readouterr().out


def test_the_broker_reads_only_the_stage_it_serves():
    """A rotation's AWSPENDING and AWSPREVIOUS are never readable by the broker's role: each
    secret's read is conditioned on the version stage it serves."""
    found = statements(config(a={"type": "secretsmanager", "secret_id": "team/a"},
                              b={"type": "secretsmanager", "secret_id": "team/b",
                                 "version_stage": "AWSPREVIOUS"}))
    stages = {s["Sid"]: (s["Resource"], s["Condition"]) for s in found
              if s["Action"] == ["secretsmanager:GetSecretValue"]}
    assert stages == {
        "ReadRegistrySecrets": (["arn:${AWS::Partition}:secretsmanager:${AWS::Region}:"
                                 "${AWS::AccountId}:secret:team/a-??????"],
                                {"ForAnyValue:StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}}),
        "ReadRegistrySecretsAtAWSPREVIOUS": (
            ["arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
             "team/b-??????"], {"ForAnyValue:StringEquals": {"secretsmanager:VersionStage": "AWSPREVIOUS"}})}
