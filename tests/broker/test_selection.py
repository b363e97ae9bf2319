"""Registry selection: alias, BROKER_REGISTRY, event, single registry; and every refusal."""

from __future__ import annotations

import pytest

from broker.config import parse_config
from broker.errors import RegistryNotAllowed, RegistryNotSelected, UnknownRegistry
from broker.selection import alias_of, select

ARN = "arn:aws:lambda:eu-west-1:123456789012:function:broker"


def registry(host, **extra):
    return {"host": host, "backend": {"type": "env", "username_var": "U", "password_var": "P"},
            **extra}


CONFIG = parse_config({"registries": {
    "acme": registry("acme.example:5000"),
    "harbor": registry("harbor.internal", match=["harbor.internal/team/*", "mirror.internal/*"]),
}}, "test")
ONE = parse_config({"registries": {"solo": registry("solo.example")}}, "test")


def pick(event=None, alias=None, pinned=None, config=CONFIG, local=True):
    """The registry picked; ``local`` as for the CLI (tests/security covers Lambda's refusals)."""
    return select(config, event, alias, pinned, local=local).name


@pytest.mark.parametrize("arn, alias", [
    (f"{ARN}:acme", "acme"), (ARN, None), (f"{ARN}:$LATEST", "$LATEST"),
    ("not-an-arn", None), (None, None), (42, None),
])
def test_alias_of(arn, alias):
    assert alias_of(arn) == alias


def test_rule1_alias_names_the_registry():
    assert pick({}, alias="harbor") == "harbor"


def test_broker_registry_refuses_the_alias_of_another_registry():
    assert pick({}, alias="acme", pinned="acme") == "acme"
    with pytest.raises(RegistryNotAllowed, match="pinned to registry 'acme' by BROKER_REGISTRY"):
        pick({}, alias="harbor", pinned="acme")


def test_alias_that_is_not_a_registry_falls_through():
    assert pick({"registry": "acme"}, alias="live") == "acme"
    assert pick({}, alias="$LATEST", config=ONE, local=False) == "solo"
    with pytest.raises(RegistryNotAllowed, match="qualifier: 'live'"):
        pick({"registry": "acme"}, alias="live", local=False)


def test_rule2_broker_registry():
    assert pick({}, pinned="acme") == "acme"


def test_rule2_unknown_name_is_refused():
    with pytest.raises(UnknownRegistry, match="BROKER_REGISTRY names 'nope'.*acme, harbor"):
        pick({}, pinned="nope")


def test_rule3_event_registry_and_image():
    assert pick({"registry": "harbor"}) == "harbor"
    assert pick({"image": "mirror.internal/base:1"}) == "harbor"
    assert pick({"image": "acme.example:5000/team/trainer@sha256:abc"}) == "acme"


def test_rule4_single_registry():
    assert pick(None, config=ONE) == "solo"
    assert pick({"unrelated": "sagemaker payload"}, config=ONE) == "solo"


@pytest.mark.parametrize("event, alias, pinned", [
    ({"registry": "harbor"}, "acme", None),
    ({"registry": "harbor"}, None, "acme"),
    ({"image": "harbor.internal/team/x:1"}, "acme", None),
    ({"image": "harbor.internal/other/x:1"}, "harbor", None),
])
def test_pinned_registry_cannot_be_overridden(event, alias, pinned):
    with pytest.raises(RegistryNotAllowed, match="pinned to registry"):
        pick(event, alias=alias, pinned=pinned)


def test_pinned_registry_accepts_matching_requests():
    assert pick({"registry": "acme", "image": "acme.example:5000/x"}, alias="acme") == "acme"


def test_nothing_selects_among_several():
    with pytest.raises(RegistryNotSelected, match="configured: acme, harbor") as info:
        pick({})
    assert "alias" in str(info.value)


@pytest.mark.parametrize("event, message", [
    ({"registry": "quay"}, "asks for registry 'quay'.*configured: acme, harbor"),
    ({"image": "quay.io/x/y"}, "no configured registry serves image 'quay.io/x/y'"),
    ({"registry": "acme", "image": "harbor.internal/team/x"}, "does not serve"),
])
def test_unknown_registry(event, message):
    with pytest.raises(UnknownRegistry, match=message):
        pick(event)


@pytest.mark.parametrize("event", [{"registry": 5}, {"image": ""}, {"registry": ["acme"]}])
def test_malformed_event_fields(event):
    with pytest.raises(RegistryNotSelected, match="must be a non-empty string"):
        pick(event, config=ONE)
