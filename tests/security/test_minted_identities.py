"""Promise 1 for minted logins: no login served through one alias can be used to obtain
another registry's (third review, findings 1 and 5).

The framework, not each backend, refuses two registries minting through one identity
(broker.identity): for ``gar`` (which had no such rule), ``ecr`` (whose rule compared
``role_arn`` text while IAM role names ignore case), and a plugin that declares nothing.
"""

from __future__ import annotations

import pytest

from backends.base import Backend
from broker.config import parse_config
from broker.errors import ConfigError
from broker.identity import Identity, Minting, aws_role, problems

AUDIENCE = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/aws"
OTHER_POOL = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/other/providers/aws"
SA_X = "puller-x@project.iam.gserviceaccount.com"
SA_Y = "puller-y@project.iam.gserviceaccount.com"


def gar(**settings) -> dict:
    return {"type": "gar", "audience": AUDIENCE, **settings}


def ecr(**settings) -> dict:
    return {"type": "ecr", "repositories": ["team/trainer"], **settings}


def config(*backends: dict) -> dict:
    return {"registries": {f"team-{chr(97 + i)}": {"host": f"r{i}.example.com", "backend": b}
                           for i, b in enumerate(backends)}}


def refused(document: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "test")
    return str(caught.value)


@pytest.mark.parametrize("a, b", [
    (gar(), gar(service_account=SA_X)),            # the review's case: a's token impersonates X
    (gar(service_account=SA_X), gar()),            # the same, in the other order
    (gar(), gar()),                                # one federated token for both
    (gar(service_account=SA_X), gar(service_account=SA_X)),  # one service account's token
    (gar(), gar(audience=AUDIENCE.replace("/aws", "/aws2"), service_account=SA_X)),  # same pool
    (gar(role_arn="arn:aws:iam::123456789012:role/Signer"),
     gar(role_arn="arn:aws:iam::123456789012:role/signer", service_account=SA_X)),
], ids=["served-vs-impersonating", "impersonating-vs-served", "both-served", "same-account",
        "another-provider-in-the-pool", "role-name-case"])
def test_two_gar_registries_that_could_mint_each_others_login_are_refused(a, b):
    message = refused(config(a, b))
    assert "registries.team-b.backend: 'team-b' and 'team-a' both mint through" in message
    assert "an invoker of one alias could obtain the other's login" in message


@pytest.mark.parametrize("a, b", [
    (gar(service_account=SA_X), gar(service_account=SA_Y)),  # two accounts, one principal
    (gar(), gar(audience=OTHER_POOL)),                       # two pools
    (gar(), gar(role_arn="arn:aws:iam::123456789012:role/other")),  # two signers
    (gar(), ecr()),                    # a Google token and an ECR token of the same role
], ids=["two-service-accounts", "two-pools", "two-signers", "gar-and-ecr"])
def test_registries_minting_apart_pass(a, b):
    assert len(parse_config(config(a, b), "test").registries) == 2


def test_ecr_role_names_that_differ_only_in_case_are_one_identity():
    """Finding 5: IAM role names are unique ignoring case; the ecr rule compared the text."""
    message = refused(config(ecr(role_arn="arn:aws:iam::123456789012:role/Puller"),
                             ecr(role_arn="arn:aws:iam::123456789012:role/team/puller")))
    assert "both mint through an ECR token of role" in message


def test_the_role_key_ignores_case_and_path_but_not_the_account():
    assert aws_role("arn:aws:iam::123456789012:role/a/Puller").key == \
        aws_role("arn:aws:iam::123456789012:role/puller").key
    assert aws_role("arn:aws:iam::123456789012:role/puller").key != \
        aws_role("arn:aws:iam::210987654321:role/puller").key
    assert aws_role(None).label == "the function's own role"


def test_the_rule_refuses_a_served_identity_anywhere_in_another_chain():
    root, middle = Identity("r", "root"), Identity("m", "middle")
    served_middle = Minting((root, middle))
    goes_on = served_middle.then("leaf", "leaf")
    assert [name for name, _ in problems([("a", served_middle), ("b", goes_on)])] == ["b"]
    assert problems([("a", goes_on), ("b", Minting((root, Identity("other", "other"))))]) == []


class NoIdentity(Backend):
    """A toy minting plugin that forgets to declare what it mints through."""

    type = "toy-minter"
    mints = True


def test_a_minting_plugin_that_declares_no_identity_is_refused(monkeypatch):
    import backends
    from backends.env import EnvBackend

    NoIdentity.Settings = EnvBackend.Settings
    real = backends.backend_class
    monkeypatch.setattr(backends, "backend_class",
                        lambda name: NoIdentity if name == "toy-minter" else real(name))
    block = {"type": "toy-minter", "username_var": "U", "password_var": "P"}
    message = refused(config(block))
    assert ("registries.team-a.backend.type: the toy-minter backend mints logins but declares no "
            "identity") in message


def test_a_login_with_an_expiry_from_a_backend_that_declares_no_identity_is_never_served(clock):
    """At run time too: a plugin that mints without saying so (``mints`` left False) has its
    first login refused, not served."""
    from backends.env import EnvBackend
    from broker.deps import Deps
    from broker.login import Login

    class Undeclared(EnvBackend):
        def _fetch(self) -> Login:
            return Login("u", "p", expires_at=self.deps.clock() + 3600)

    registry = parse_config(config({"type": "env", "username_var": "U", "password_var": "P"}),
                            "test").registries["team-a"]
    backend = Undeclared(registry, Deps({"U": "u", "P": "p"}, clock=clock))
    with pytest.raises(ConfigError, match="minted a login but declares no identity"):
        backend.fetch()


@pytest.mark.parametrize("arn", ["arn:aws:iam::123456789012:role/P/",
                                 "arn:aws:iam::123456789012:role//P",
                                 "arn:aws:iam::123456789012:role/a//P"])
def test_role_arns_that_iam_would_not_name_are_refused(arn):
    """Attacker's read: such spellings passed validation and compared as raw text."""
    assert "must be an IAM role ARN" in refused(config(ecr(role_arn=arn)))


def test_the_function_s_own_role_written_out_is_refused_by_the_build(tmp_path):
    """Attacker's read: `role_arn` naming the function's own role was another identity than
    "the function's own role" to the rule, so two ecr registries could mint as one."""
    from tests.support.packaging import build

    own = "arn:aws:iam::123456789012:role/registry-broker-dev-us-east-1-lambdaRole"
    document = config(ecr(), ecr(role_arn=own))
    proc = build(document, tmp_path)
    assert proc.returncode == 2
    assert "role_arn names the function's own role" in proc.stderr
