"""AWS clients shared by every AWS-backed registry, and AWS error translation.

Clients come from botocore directly: boto3 adds nothing the broker uses and
its import (s3transfer among others) costs tens of milliseconds and megabytes
on every cold start. botocore is imported on first use, so a configuration
without AWS backends never pays for it. Clients are shared per (service,
region, role, timeout): a thousand Secrets Manager registries in one region
use one client.
"""

from __future__ import annotations

import functools
from typing import Any

from broker.errors import AccessDenied, BackendUnavailable, BrokerError, SecretNotFound

SESSION_NAME = "registry-broker"

# Field metadata for the schema (regexes as text: compiled on first use, so an unset field costs
# no cold-start time): names and ARNs become IAM resources, so no wildcard may pass.
NO_WILDCARD = {"pattern": (r"[^*?${}]+", "must not hold * ? $ { or }: a name becomes an IAM "
                                          "resource (a wildcard, or a policy variable) and a "
                                          "CloudFormation substitution")}
ROLE_ARN = {"pattern": (r"arn:aws[a-z-]*:iam::[0-9]{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}",
                        "must be an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME), "
                        "without wildcards")}
def region_problem(name: str) -> str | None:
    """Why ``name`` is not a region botocore knows (its partitions data), or None."""
    from broker.schema import did_you_mean

    known = known_regions()
    if not known or name in known:
        return None
    return (f"is not an AWS region{did_you_mean(name, known)}: the regions botocore knows are "
            "listed in its partitions data (a newer region may need a newer botocore)")


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's partitions data (empty if it has none)."""
    import json
    import os

    import botocore

    path = os.path.join(os.path.dirname(botocore.__file__), "data", "partitions.json")
    try:
        with open(path, encoding="utf-8") as handle:
            partitions = json.load(handle)["partitions"]
    except (OSError, ValueError, KeyError):
        return frozenset()
    return frozenset(r for p in partitions for r in p.get("regions", {}) if not r.endswith("-global"))


REGION = {"pattern": (r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}",
                      "must be an AWS region name such as eu-west-1"), "check": region_problem}
KMS_KEY_ARN = {"pattern": (r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/"
                           r"(mrk-[0-9a-f]{32}|[0-9a-f-]{36})",
                           "must be a KMS key ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID), "
                           "without wildcards; an alias ARN does not authorize kms:Decrypt")}

_NOT_FOUND = {"ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound",
              "InvalidRequestException"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException",
           "InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken",
           "InvalidSignatureException", "SignatureDoesNotMatch", "DecryptionFailure",
           "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException"}
_MESSAGE_CHARS = 300


class AwsClients:
    """Builds and shares botocore clients; assumes ``role_arn`` roles lazily, refreshing them.

    ``session`` (a botocore Session) replaces the function's own credentials, for tests.
    """

    def __init__(self, *, endpoint_url: str | None = None, max_attempts: int = 1,
                 session: Any = None) -> None:
        self.endpoint_url = endpoint_url  # None: botocore honours AWS_ENDPOINT_URL itself
        # One attempt per call: Backend.fetch() retries, within the invocation's time left.
        self.max_attempts = max_attempts
        self._clients: dict[tuple, Any] = {}
        self._sessions: dict[str | None, Any] = {None: session} if session else {}

    def client(self, service: str, *, region: str | None = None, role_arn: str | None = None,
               timeout: float = 5.0) -> Any:
        """A client for ``service``, signed as ``role_arn`` when given."""
        key = (service, region, role_arn, timeout)
        if key not in self._clients:
            self._clients[key] = self.session(role_arn).create_client(
                service, region_name=region, endpoint_url=self.endpoint_url,
                config=self._config(timeout))
        return self._clients[key]

    def session(self, role_arn: str | None = None) -> Any:
        """The function's own botocore session, or one that assumes ``role_arn`` on first use."""
        if role_arn not in self._sessions:
            self._sessions[role_arn] = self._assumed(role_arn) if role_arn else _new_session()
        return self._sessions[role_arn]

    def _config(self, timeout: float) -> Any:
        from botocore.config import Config

        return Config(connect_timeout=connect_timeout(timeout), read_timeout=timeout,
                      retries={"mode": "standard", "total_max_attempts": self.max_attempts})


    def _assumed(self, role_arn: str) -> Any:
        from botocore.credentials import DeferredRefreshableCredentials

        sts = self.client("sts")

        def refresh() -> dict[str, str]:
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
            return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                    "token": creds["SessionToken"], "expiry_time": creds["Expiration"].isoformat()}

        session = _new_session()
        # Deferred: the role is assumed on the first call, never during init or a snapshot.
        session._credentials = DeferredRefreshableCredentials(refresh, "sts-assume-role")
        return session

    def region(self) -> str | None:
        """The function's own region (AWS_REGION / AWS_DEFAULT_REGION / config)."""
        return self.session().get_config_variable("region")


CONNECT_TIMEOUT = 2.0
"""Seconds a botocore client waits to connect, at most (an AWS endpoint answers a connect in
milliseconds); then up to the registry's ``timeout`` for the answer."""


def connect_timeout(timeout: float) -> float:
    """The connect timeout of a client whose calls may take ``timeout``."""
    return min(timeout, CONNECT_TIMEOUT)


def call_seconds(timeout: float) -> float:
    """How long one botocore call may take at worst: a connect, then a read. It cannot be cut
    short, so it starts only when this much time is left."""
    return connect_timeout(timeout) + timeout


def _new_session() -> Any:
    from botocore.session import get_session

    return get_session()


def translate(exc: Exception, make: Any) -> BrokerError | None:
    """Map a boto3/botocore exception to a BrokerError built by ``make(cls, problem, hint)``.

    Returns None for exceptions that are not AWS errors.
    """
    code = error_code(exc)
    if code is not None:
        return _from_code(code, _aws_message(exc), make)
    name = type(exc).__name__
    if name in {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
        return make(AccessDenied, "no usable AWS credentials were found",
                    "Run with an IAM role (Lambda execution role) or set AWS credentials")
    if name in {"NoRegionError", "InvalidRegionError"}:
        return make(BackendUnavailable, "no valid AWS region is configured",
                    "Set `region` on the backend (e.g. eu-west-1), or AWS_DEFAULT_REGION in the environment")
    if type(exc).__module__.startswith(("botocore", "urllib3")):
        return make(BackendUnavailable, f"the AWS endpoint did not answer ({name})",
                    "Check network access to the service (VPC endpoint or NAT) and retry")
    return None


def arn_region(value: object) -> str | None:
    """The region an ARN names (``arn:PARTITION:SERVICE:REGION:...``); None for anything else,
    or an ARN of a global service (IAM's names none)."""
    parts = value.split(":") if isinstance(value, str) and value.startswith("arn:") else []
    return parts[3] or None if len(parts) > 3 else None


def error_code(exc: Exception) -> str | None:
    """The AWS error code of a botocore ClientError (a bare HTTP status mapped), or None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or not isinstance(response.get("Error"), dict):
        return None
    code = str(response["Error"].get("Code", ""))
    # An error body botocore could not parse leaves only the HTTP status as the code.
    return _STATUS_CODES.get(code, code)


_STATUS_CODES = {"401": "AccessDenied", "403": "AccessDenied", "404": "ResourceNotFoundException"}


def _aws_message(exc: Exception) -> str:
    message = str(exc.response["Error"].get("Message", ""))  # type: ignore[attr-defined]
    if "<Message>" in message:  # an XML error body in a JSON protocol
        message = message.split("<Message>", 1)[1].split("</Message>", 1)[0]
    return message[:_MESSAGE_CHARS]


def _from_code(code: str, message: str, make: Any) -> BrokerError:
    said = f" (AWS said: {code}: {message})" if message else f" ({code})"
    if code in _NOT_FOUND:
        return make(SecretNotFound, f"it does not exist or cannot be read{said}",
                    "Create it in this account and region, or fix the reference in the config")
    if code in _DENIED:
        return make(AccessDenied, f"AWS refused access{said}",
                    "Grant the function's role read access to it (and kms:Decrypt on its key); "
                    "for role_arn, let the function assume that role")
    return make(BackendUnavailable, f"AWS answered with an error{said}",
                "This is usually throttling or a service fault: retry, and raise cache_ttl "
                "if it persists")
