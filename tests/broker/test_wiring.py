"""`broker sagemaker-config` and the examples that use it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from broker.cli import main

ROOT = Path(__file__).parents[2]
EXAMPLE = str(ROOT / "examples" / "broker.yml")
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:registry-broker-prod-broker"
# CreateTrainingJob's pattern for TrainingRepositoryCredentialsProviderArn
API_PATTERN = re.compile(r"^arn:[\w\-]+:lambda:[\w\-]+:[0-9]{12}:function:.*$")


def test_training_image_config(capsys):
    assert main(["sagemaker-config", "acme", "--config", EXAMPLE, "--function-arn", FUNCTION]) == 0
    block = json.loads(capsys.readouterr().out)
    auth = block["TrainingImageConfig"]["TrainingRepositoryAuthConfig"]
    assert block["TrainingImageConfig"]["TrainingRepositoryAccessMode"] == "Vpc"
    assert auth["TrainingRepositoryCredentialsProviderArn"] == f"{FUNCTION}:acme"
    assert API_PATTERN.match(auth["TrainingRepositoryCredentialsProviderArn"])


def test_model_image_config(capsys):
    assert main(["sagemaker-config", "acme", "--for", "model", "--config", EXAMPLE,
                 "--function-arn", FUNCTION]) == 0
    assert json.loads(capsys.readouterr().out) == {"ImageConfig": {
        "RepositoryAccessMode": "Vpc",
        "RepositoryAuthConfig": {"RepositoryCredentialsProviderArn": f"{FUNCTION}:acme"}}}


def test_invoker_policy_is_for_that_alias_only(capsys):
    assert main(["sagemaker-config", "harbor", "--config", EXAMPLE, "--function-arn", FUNCTION,
                 "--invoker-policy"]) == 0
    statement = json.loads(capsys.readouterr().out)["Statement"]
    assert statement == [{"Sid": "InvokeRegistryCredentialsAlias", "Effect": "Allow",
                          "Action": "lambda:InvokeFunction", "Resource": f"{FUNCTION}:harbor"}]


@pytest.mark.parametrize("name, arn, error", [
    ("nope", FUNCTION, "UnknownRegistry: 'nope' is not configured"),
    ("acme", f"{FUNCTION}:acme", "ConfigError"),
    ("acme", "arn:aws:s3:::bucket", "ConfigError"),
    ("acme", FUNCTION.replace("registry-broker", "sagemaker-broker"), "ConfigError"),
])
def test_refusals(capsys, name, arn, error):
    assert main(["sagemaker-config", name, "--config", EXAMPLE, "--function-arn", arn]) == 2
    assert capsys.readouterr().err.startswith(error)


def test_create_training_job_example_passes_botocore_validation(moto, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    import create_training_job

    assert create_training_job.main([
        "--registry", "quay", "--function-arn", FUNCTION, "--config", EXAMPLE,
        "--image", "quay.internal/team/trainer:1", "--role-arn",
        "arn:aws:iam::123456789012:role/SageMakerTrainer", "--subnets", "subnet-a,subnet-b",
        "--security-groups", "sg-a", "--output", "s3://bucket/out/", "--job-name", "broker-example"]) == 0
    job = boto3.client("sagemaker", region_name="us-east-1").describe_training_job(
        TrainingJobName="broker-example")
    auth = job["AlgorithmSpecification"]["TrainingImageConfig"]["TrainingRepositoryAuthConfig"]
    assert auth["TrainingRepositoryCredentialsProviderArn"] == f"{FUNCTION}:quay"


def test_create_model_example_passes_botocore_validation(moto, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    import create_model

    assert create_model.main([
        "--registry", "harbor", "--function-arn", FUNCTION, "--config", EXAMPLE,
        "--image", "harbor.internal/team/server:1", "--role-arn",
        "arn:aws:iam::123456789012:role/SageMakerInference", "--subnets", "subnet-a",
        "--security-groups", "sg-a", "--model-name", "broker-example-model"]) == 0
    model = boto3.client("sagemaker", region_name="us-east-1").describe_model(
        ModelName="broker-example-model")
    image = model["PrimaryContainer"]["ImageConfig"]
    assert image == {"RepositoryAccessMode": "Vpc", "RepositoryAuthConfig": {
        "RepositoryCredentialsProviderArn": f"{FUNCTION}:harbor"}}


def test_sdk_example_compiles():
    compile((ROOT / "examples" / "sagemaker_sdk.py").read_text(), "sagemaker_sdk.py", "exec")
