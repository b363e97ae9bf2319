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
    ("acme", f"{FUNCTION}:harbor", "ConfigError"),
    ("acme", "arn:aws:s3:::bucket", "ConfigError"),
    ("acme", FUNCTION.replace("registry-broker", "sagemaker-broker"), "ConfigError"),
])
def test_refusals(capsys, name, arn, error):
    assert main(["sagemaker-config", name, "--config", EXAMPLE, "--function-arn", arn]) == 2
    assert capsys.readouterr().err.startswith(error)


def test_the_alias_arn_the_stack_outputs_is_accepted(capsys):
    """What the stack gives per registry (its AliasArn output) works as --function-arn."""
    assert main(["sagemaker-config", "acme", "--config", EXAMPLE,
                 "--function-arn", f"{FUNCTION}:acme"]) == 0
    auth = json.loads(capsys.readouterr().out)["TrainingImageConfig"][
        "TrainingRepositoryAuthConfig"]
    assert auth["TrainingRepositoryCredentialsProviderArn"] == f"{FUNCTION}:acme"


def test_an_alias_arn_of_another_registry_is_refused_naming_both(capsys):
    assert main(["sagemaker-config", "acme", "--config", EXAMPLE,
                 "--function-arn", f"{FUNCTION}:harbor"]) == 2
    err = capsys.readouterr().err
    assert "the ARN's alias is 'harbor', not the registry 'acme'" in err


def test_a_refused_arn_names_the_stack_outputs_that_exist(capsys):
    assert main(["sagemaker-config", "acme", "--config", EXAMPLE,
                 "--function-arn", "arn:aws:s3:::bucket"]) == 2
    err = capsys.readouterr().err
    assert "BrokerFunctionArn" in err and "AliasArn" in err
    assert "function output" not in err  # there was no such output


def test_the_stack_outputs_the_function_arn():
    from broker import deployment
    from broker.config import load_config
    from deploy.template import deploy_document

    outputs = deploy_document(deployment.model(load_config(EXAMPLE)), "/var/task/x")["outputs"]
    assert outputs["BrokerFunctionArn"]["Value"] == {"Fn::GetAtt": ["BrokerLambdaFunction", "Arn"]}


@pytest.mark.parametrize("image, code", [("harbor.internal/team/server:1", 0),
                                         ("mycompany.jfrog.io/team/server:1", 2),
                                         ("harbor.internal.evil.example/team/server:1", 2)])
def test_an_image_the_registry_does_not_serve_is_refused(capsys, image, code):
    assert main(["sagemaker-config", "harbor", "--config", EXAMPLE, "--function-arn", FUNCTION,
                 "--image", image]) == code
    if code:
        assert f"registry 'harbor' does not serve the image '{image}'" in capsys.readouterr().err


def no_sagemaker_call(monkeypatch):
    import boto3

    def refuse(*args, **kwargs):
        raise AssertionError("the example called AWS")
    monkeypatch.setattr(boto3, "client", refuse)


EXAMPLES = [("create_training_job", ["--output", "s3://bucket/out/"]), ("create_model", [])]


def run_example(monkeypatch, script: str, image: str, *extra: str) -> int:
    """An example's main() with the harbor registry and ``image``, boto3 refusing any call."""
    import importlib

    no_sagemaker_call(monkeypatch)
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    return importlib.import_module(script).main([
        "--registry", "harbor", "--function-arn", FUNCTION, "--config", EXAMPLE, "--image", image,
        "--role-arn", "arn:aws:iam::123456789012:role/SageMaker", "--subnets", "subnet-a",
        "--security-groups", "sg-a", *extra])


@pytest.mark.parametrize("script, extra", EXAMPLES)
def test_the_examples_dry_run_prints_the_request_and_calls_nothing(monkeypatch, capsys, script,
                                                                 extra):
    assert run_example(monkeypatch, script, "harbor.internal/team/server:1", "--dry-run",
                       *extra) == 0
    request = json.loads(capsys.readouterr().out)
    assert json.dumps(request).count(f"{FUNCTION}:harbor") == 1


@pytest.mark.parametrize("script, extra", EXAMPLES)
def test_the_examples_refuse_an_image_the_registry_does_not_serve(monkeypatch, capsys, script,
                                                                extra):
    assert run_example(monkeypatch, script, "mycompany.jfrog.io/team/server:1", *extra) == 2
    assert "does not serve the image" in capsys.readouterr().err


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
