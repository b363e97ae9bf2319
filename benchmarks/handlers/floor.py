"""The floor: botocore alone, a client at import, one call (no boto3, no broker)."""

import json
import os

import botocore.session

client = botocore.session.get_session().create_client("secretsmanager")


def handler(event, context):
    value = json.loads(client.get_secret_value(SecretId=os.environ["SECRET_ID"])["SecretString"])
    return {"Credentials": {"Username": value["username"], "Password": value["password"]}}
