"""What serverless.yml includes from ``deploy.json``: the function's environment and IAM
statements, one alias per registry, invoke permissions on the aliases only, and outputs."""

from __future__ import annotations

import hashlib
import re

from broker import iam
from broker.deployment import Deployment
from broker.model import Registry
from deploy.errors import BuildError


def deploy_document(model: Deployment, source: str) -> dict:
    """The environment, IAM statements, aliases, permissions and outputs for ``model``."""
    resources: dict = {}
    outputs: dict = {
        "BrokerRoleArn": {
            "Description": "The function's execution role (bind it in Vault's aws auth role)",
            "Value": {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}},
        "BrokerFunctionArn": {
            "Description": "The broker function (broker sagemaker-config --function-arn)",
            "Value": {"Fn::GetAtt": ["BrokerLambdaFunction", "Arn"]}}}
    for facts in model.registries:
        _registry(resources, outputs, facts.registry)
    return {"environment": {"BROKER_CONFIG": source},
            "iamStatements": iam.for_cloudformation(model.statements(source)),
            "resources": resources, "outputs": outputs}


def _registry(resources: dict, outputs: dict, registry: Registry) -> None:
    alias = _add(resources, logical_id("Alias", registry.name), _alias(registry))
    _add(outputs, logical_id("AliasArn", registry.name), {
        "Description": f"TrainingRepositoryCredentialsProviderArn for {registry.host}",
        "Value": {"Ref": alias}})
    for index, role in enumerate(registry.invokers, 1):
        # Always on the alias: a permission on the function would give every registry.
        _add(resources, f"{logical_id('Invoke', registry.name)}N{index}", {
            "Type": "AWS::Lambda::Permission",
            "Properties": {"Action": "lambda:InvokeFunction", "FunctionName": {"Ref": alias},
                           "Principal": role}})


def _add(section: dict, key: str, value: dict) -> str:
    if key.lower() in {k.lower() for k in section}:
        raise BuildError(f"two registries map to the CloudFormation id {key}; rename one")
    section[key] = value
    return key


def _alias(registry: Registry) -> dict:
    return {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "BrokerLambdaFunction"}, "FunctionVersion": "$LATEST",
        "Name": registry.name, "Description": f"Registry login for {registry.host}"}}


def logical_id(prefix: str, name: str) -> str:
    """A CloudFormation logical id for a registry: its letters and digits, readable, then 8 hex
    digits of the name's SHA-256, so names that differ only in '-', '_' or case stay apart."""
    readable = re.sub(r"[^A-Za-z0-9]", "", name)
    digest = hashlib.sha256(name.encode()).hexdigest()[:8].upper()
    return f"{prefix}{readable[:1].upper()}{readable[1:]}{digest}"
