"""The ten-line handler people write instead: a client at import, one call per invocation."""

import json
import os

import boto3

client = boto3.client("secretsmanager")


def handler(event, context):
    value = json.loads(client.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"])
    return {"Credentials": {"Username": value["username"], "Password": value["password"]}}
