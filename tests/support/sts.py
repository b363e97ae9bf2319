"""AWS's side of a signed ``sts:GetCallerIdentity``, for the stand-ins of services that verify
one (Google's STS for gar, JFrog's token exchange for artifactory): IAM users in moto, and the
replay of the signed request against moto's STS with IAM authentication on."""

from __future__ import annotations

import contextlib
import json
import secrets

import botocore.session
import requests

GET_CALLER_IDENTITY = "/?Action=GetCallerIdentity&Version=2011-06-15"


def iam_user(admin, moto) -> tuple[str, botocore.session.Session]:
    """A new IAM user in moto: its ARN and a botocore session signing as it."""
    iam, name = admin("iam"), f"gar-signer-{secrets.token_hex(4)}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    iam.put_user_policy(UserName=name, PolicyName="whoami", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity",
                                                "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = botocore.session.Session()
    session.set_credentials(key["AccessKeyId"], key["SecretAccessKey"])
    return arn, session


@contextlib.contextmanager
def _signed_as(fix):
    """moto checks an incoming signature over the request as it rebuilds it; ``fix`` makes
    that the request as the client signed it."""
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase._create_aws_request

    def create(self):
        return fix(self, original(self))
    IAMRequestBase._create_aws_request = create
    try:
        yield
    finally:
        IAMRequestBase._create_aws_request = original


def _raw_body(incoming, request):
    """A POST with an empty body (google-auth's): moto signs over the parsed query instead."""
    request.data = incoming._body
    return request


def _query(incoming, request):
    """A GET (botocore's, here): moto signs over a body it rebuilds from the query instead."""
    from urllib.parse import urlencode

    if incoming._method == "GET":
        request.url = f"{incoming._path.split('?', 1)[0]}?{urlencode(incoming._data, doseq=True)}"
        request.data = b""
    return request


def verified_caller(moto, method: str, headers: dict) -> tuple[int, str | None]:
    """Replay the signed request (``POST`` with an empty body, as google-auth signs it, or
    ``GET`` with the query, as botocore signs it) against moto's STS with IAM authentication
    on: the status, and the caller's ARN when AWS says the signature is good."""
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication(), _signed_as(_raw_body if method == "POST" else _query):
        answer = requests.request(method, f"{moto.url}{GET_CALLER_IDENTITY}", headers=headers,
                                  timeout=10)
    if answer.status_code != 200:
        return answer.status_code, None
    return 200, answer.text.split("<Arn>", 1)[1].split("</Arn>", 1)[0]
