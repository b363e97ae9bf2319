"""What serverless.yml includes from ``deploy.json``: the function's environment and IAM
statements, one alias per registry, invoke permissions on the aliases only, and outputs; and,
when a registry has a ``rotation`` block, the rotation function with its own role, the
permission letting only Secrets Manager invoke it for the rotated secrets, a rotation schedule
per secret and the alarm on failed rotations."""

from __future__ import annotations

from broker import iam
from broker.deployment import Deployment
from broker.model import Registry
from deploy.errors import BuildError
from deploy.ids import logical_id

__all__ = ["dashboard", "deploy_document", "logical_id"]


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
    resources["BrokerDashboard"] = dashboard([f.name for f in model.registries])
    document = {"environment": {"BROKER_CONFIG": source},
                "iamStatements": iam.for_cloudformation(model.statements(source)),
                "resources": resources, "outputs": outputs, "rotationFunction": {},
                "rotationExtensions": {}, "rotationTemplate": {}}
    if model.rotations:
        from deploy import rotation

        rotation.add(document, model)
    return document


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


def dashboard(registries: list[str]) -> dict:
    """One CloudWatch dashboard for the stack: each registry's logins served and refused
    (the broker's own EMF metrics, broker/metrics.py), by source and by error type."""
    import json

    from broker.metrics import NAMESPACE

    widgets = [_widget(0, "Logins served, by registry", [
        [NAMESPACE, "Served", "Registry", name] for name in registries], "Sum")]
    widgets.append(_widget(1, "Logins refused, by registry", [
        [NAMESPACE, "Failed", "Registry", name] for name in registries], "Sum"))
    widgets.append(_widget(2, "Time to answer (p99 ms), by registry", [
        [NAMESPACE, "Duration", "Registry", name] for name in registries], "p99"))
    body = json.dumps({"widgets": widgets}, separators=(",", ":"))
    return {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": {"Fn::Sub": "${AWS::StackName}-registries"},
        "DashboardBody": {"Fn::Sub": body}}}


def _widget(row: int, title: str, metrics: list[list[str]], stat: str) -> dict:
    return {"type": "metric", "x": 0, "y": row * 6, "width": 24, "height": 6, "properties": {
        "title": title, "region": "${AWS::Region}", "stat": stat, "period": 300,
        "view": "timeSeries", "metrics": metrics}}


def _add(section: dict, key: str, value: dict) -> str:
    if key.lower() in {k.lower() for k in section}:
        raise BuildError(f"two registries map to the CloudFormation id {key}; rename one")
    section[key] = value
    return key


def _alias(registry: Registry) -> dict:
    return {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "BrokerLambdaFunction"}, "FunctionVersion": "$LATEST",
        "Name": registry.name, "Description": f"Registry login for {registry.host}"}}
