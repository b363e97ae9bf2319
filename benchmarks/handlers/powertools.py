"""Powertools for AWS Lambda's parameters utility, cached for 300 s."""

import os

from aws_lambda_powertools.utilities import parameters


def handler(event, context):
    value = parameters.get_secret(os.environ["SECRET_ID"], transform="json", max_age=300)
    return {"Credentials": {"Username": value["username"], "Password": value["password"]}}
