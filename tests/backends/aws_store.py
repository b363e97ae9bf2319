"""What the Secrets Manager and SSM stores share: moto behind a stoppable proxy, IAM denial."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import botocore.session

from broker.aws import AwsClients
from tests.backends.contract import Store


class AwsStore(Store):
    def __init__(self, aws: Any, proxy: Any) -> None:
        super().__init__()
        self.admin = aws  # direct to moto, for setup
        self.proxy = proxy
        self.aws = AwsClients(endpoint_url=proxy.url)

    def identity(self) -> list[str]:
        return ["region us-east-1", "account 123456789012"]  # moto's default account

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
        session = botocore.session.Session()
        session.set_credentials(key["AccessKeyId"], key["SecretAccessKey"])
        with enable_iam_authentication():
            yield {"aws": AwsClients(endpoint_url=self.proxy.url, session=session)}
