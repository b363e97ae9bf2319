"""What the Secrets Manager and SSM stores share: moto behind a stoppable proxy, IAM denial."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import boto3

from broker.aws import AwsClients
from tests.backends.contract import Store


class AwsStore(Store):
    def __init__(self, aws: Any, proxy: Any) -> None:
        super().__init__()
        self.admin = aws  # direct to moto, for setup
        self.proxy = proxy
        self.aws = AwsClients(endpoint_url=proxy.url)

    def down(self) -> None:
        self.proxy.stop()

    def up(self) -> None:
        self.proxy.start()

    @contextlib.contextmanager
    def denied(self) -> Iterator[dict[str, Any]]:
        """An IAM user with no policy at all, while moto enforces IAM."""
        from moto.core.authorization import enable_iam_authentication

        iam = self.admin("iam")
        name = f"nobody-{secrets.token_hex(4)}"
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        session = boto3.Session(aws_access_key_id=key["AccessKeyId"],
                                aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1")
        with enable_iam_authentication():
            yield {"aws": AwsClients(endpoint_url=self.proxy.url, session=session)}
