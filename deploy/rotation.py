"""The rotation function's part of ``deploy.json``, present only when a registry rotates.

- ``rotationFunction``: the function (``broker.rotation.handler.handler``) on the same zip,
  with its own role and the packaged configuration (a runtime configuration never decides
  where an admin credential goes);
- ``RotationRole``: its logs, and per rotated registry: stage-management of that secret only,
  the read of its ``admin`` reference, the secret's own key (broker.deployment);
- per rotated secret: a permission letting only Secrets Manager, for this account and that
  secret, invoke it, and an ``AWS::SecretsManager::RotationSchedule`` (not rotating at deploy
  time: ``broker rotate NAME`` runs the first one when you choose);
- ``RotationFailureAlarm`` on the ``RotationFailed`` metric and ``RotationErrorsAlarm`` on the
  function's errors, notifying ``alarmTopicArn`` when set.
"""

from __future__ import annotations

from typing import Any

from broker import iam
from broker.deployment import Deployment
from deploy.ids import logical_id

FUNCTION = "RotationLambdaFunction"
ROLE = "RotationRole"
TIMEOUT = 120
PACKAGED = "/var/task/broker.json"


def add(document: dict, model: Deployment) -> None:
    """Fill ``document``'s rotation keys for ``model`` (which has rotated registries)."""
    resources, arn = document["resources"], {"Fn::GetAtt": [FUNCTION, "Arn"]}
    resources[ROLE] = _role(model)
    for facts in model.registries:
        if facts.rotation is None:
            continue
        permission = logical_id("RotationPermission", facts.name)
        resources[permission] = _permission(facts.rotation.secret_arn, arn)
        resources[logical_id("RotationSchedule", facts.name)] = {
            "Type": "AWS::SecretsManager::RotationSchedule", "DependsOn": [permission],
            "Properties": {"SecretId": facts.rotation.secret_id, "RotationLambdaARN": arn,
                           "RotateImmediatelyOnUpdate": False,
                           "RotationRules": {"ScheduleExpression": facts.rotation.schedule}}}
    resources.update(_alarms())
    document["outputs"]["RotationFunctionArn"] = {
        "Description": "The rotation function (Secrets Manager invokes it)", "Value": arn}
    document["rotationFunction"] = {"rotation": _function()}
    document["rotationExtensions"] = _extensions()
    document["rotationTemplate"] = {
        "Parameters": {"RotationAlarmTopicArn": {
            "Type": "String", "Default": "${param:alarmTopicArn}",
            "Description": "The SNS topic the rotation alarms notify (empty for none)"}},
        "Conditions": {"HasRotationAlarmTopic": {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "RotationAlarmTopicArn"}, ""]}]}}}


def _function() -> dict:
    return {"handler": "broker.rotation.handler.handler", "timeout": TIMEOUT,
            # As an ARN: serverless would add a DependsOn the reference already implies.
            "role": {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{{ROLE}}}"},
            "description": "Rotates registry logins in Secrets Manager: two logins per registry, "
                           "the new one proven by the preflight before it goes live",
            "environment": {"BROKER_ROTATION_CONFIG": PACKAGED}}


def _role(model: Deployment) -> dict:
    logs = {"Sid": "WriteOwnLogs", "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:"
                                     "${AWS::AccountId}:log-group:/aws/lambda/"
                                     "${AWS::StackName}-rotation:*"}]}
    statements = [logs, *iam.for_cloudformation(model.rotation_statements())]
    return {"Type": "AWS::IAM::Role", "Properties": {
        "Description": "The broker's rotation function: its rotated secrets and admin logins only",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": "rotate-registry-logins", "PolicyDocument": {
            "Version": "2012-10-17", "Statement": statements}}]}}


def _permission(secret_arn: str, function_arn: Any) -> dict:
    return {"Type": "AWS::Lambda::Permission", "Properties": {
        "Action": "lambda:InvokeFunction", "FunctionName": function_arn,
        "Principal": "secretsmanager.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"},
        "SourceArn": iam.for_cloudformation([{"Resource": secret_arn}])[0]["Resource"]}}


def _alarms() -> dict:
    actions = {"Fn::If": ["HasRotationAlarmTopic", [{"Ref": "RotationAlarmTopicArn"}],
                          {"Ref": "AWS::NoValue"}]}
    common = {"Period": 3600, "EvaluationPeriods": 1, "Threshold": 1,
              "ComparisonOperator": "GreaterThanOrEqualToThreshold",
              "TreatMissingData": "notBreaching", "AlarmActions": actions}
    return {
        "RotationFailureAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": "A registry login rotation step failed; AWSCURRENT still holds "
                                "the last good login. See the rotation function's log",
            "Namespace": "SageMakerRegistryBroker", "MetricName": "RotationFailed",
            "Statistic": "Maximum", **common}},
        "RotationErrorsAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": "The broker's rotation function failed (see its log)",
            "Namespace": "AWS/Lambda", "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": FUNCTION}}],
            "Statistic": "Sum", **common}}}


def _extensions() -> dict:
    return {"RotationLogGroup": {
        "Properties": {"KmsKeyId": "${param:logKmsKeyArn, null}"},
        "Metadata": {"checkov": {"skip": [{"id": "CKV_AWS_158", "comment": (
            "The logs carry no secret (the test suite searches every line for sentinels); "
            "logKmsKeyArn=... encrypts them with your key")}]}}}, FUNCTION: {
        "Properties": {"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "INFO",
                                         "SystemLogLevel": "WARN"}},
        "Metadata": {"checkov": {"skip": [
            {"id": "CKV_AWS_116", "comment": "Invoked synchronously by Secrets Manager, which "
                                             "retries a failed step itself"},
            {"id": "CKV_AWS_117", "comment": "Runs outside a VPC: it reaches the registries' "
                                             "APIs and Secrets Manager over their public "
                                             "endpoints (docs/rotation.md)"},
            {"id": "CKV_AWS_115", "comment": "Secrets Manager runs one rotation of a secret at "
                                             "a time; the schedules bound its concurrency"},
            {"id": "CKV_AWS_173", "comment": "The environment holds only the configuration's "
                                             "path, never a secret"}]}}}}
