"""One deployment model: what a configuration asks of a deployment, each backend class asked
once per registry, read by deploy/build.py, ``broker plan``, ``broker iam-policy`` and IAM.

The framework adds what every backend implies without it having to say so: what reading its
secret references grants and which variables they need (the reference table,
:data:`broker.refs.KINDS`), the registry's own host among the hosts the function must reach,
``requests`` for a preflight and PyYAML for an ``ssm:`` configuration. A registry with a
``rotation`` block adds what the rotation function needs (:class:`RotationFacts`), apart from
the broker's own: the broker's role never gains a rotation's grant.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import backends
from broker import iam, refs
from broker.model import Config, Registry


class RotationFacts(NamedTuple):
    """What rotating one registry's login needs of the rotation function."""

    secret_id: str
    secret_arn: str  # the ARN pattern its grants and its invoke permission name
    schedule: str
    grants: tuple[Any, ...]  # its secret (stage-managed), the admin reference, the key
    variables: tuple[str, ...]  # an {env: ...} admin reference's variable
    hosts: tuple[tuple[str, str], ...]  # the registry (its preflight) and its API
    modules: tuple[str, ...]  # the rotator's module, the admin reference's backend module


class Facts(NamedTuple):
    """What one registry needs of a deployment."""

    registry: Registry
    reference: str  # where its login lives, for messages
    grants: tuple[Any, ...]  # broker.grants.Grant and Decrypt
    variables: tuple[str, ...]  # environment variables the function must have
    hosts: tuple[tuple[str, str], ...]  # (key, host) of every server outside AWS it reaches
    region: str | None  # the AWS region its store is read in, when the settings say
    distributions: tuple[str, ...]  # what the zip must vendor for it
    notes: tuple[str, ...]  # what to set up besides the derived IAM
    deployable: bool  # False: a test deployment's backend (deploy/build.py refuses it)
    modules: tuple[str, ...]  # built-in backend modules it runs: its own, its references'
    minting: Any = None  # broker.identity.Minting of a minted login, root first
    scope: str | None = None  # what a minted login is limited to, or why it cannot be
    rotation: RotationFacts | None = None

    @property
    def name(self) -> str:
        return self.registry.name


class Deployment(NamedTuple):
    """Every registry's facts, in file order, and what the function as a whole needs."""

    config: Config
    registries: tuple[Facts, ...]

    @property
    def grants(self) -> list[Any]:
        return [grant for facts in self.registries for grant in facts.grants]

    def statements(self, config_source: str | None = None) -> list[dict[str, Any]]:
        """The function's IAM statements (and an ``ssm:`` config source's read)."""
        return iam.statements(self.grants, config_source)

    def distributions(self, config_source: str | None = None) -> list[str]:
        """What the Lambda runtime lacks and this deployment needs, by distribution name."""
        found = {name for facts in self.registries for name in facts.distributions}
        if any(facts.registry.preflight != "off" for facts in self.registries) or self.rotations:
            found.add("requests")  # a rotation's API calls and its testSecret need it too
        if config_source and config_source.startswith("ssm:"):
            found.add("pyyaml")  # the parameter may hold YAML, as the docs say
        return sorted(found)

    def backend_types(self) -> set[str]:
        return {facts.registry.backend_type for facts in self.registries}

    @property
    def rotations(self) -> list[RotationFacts]:
        """The rotated registries' facts, in file order."""
        return [facts.rotation for facts in self.registries if facts.rotation]

    def rotation_statements(self) -> list[dict[str, Any]]:
        """The rotation function's own IAM statements (its logs aside)."""
        return iam.statements([g for rotation in self.rotations for g in rotation.grants])

    def built_in_modules(self, config_source: str | None = None) -> set[str]:
        """The built-in backend modules the function runs (an ``ssm:`` configuration is read
        through the ssm backend's own read)."""
        found = {module for facts in self.registries for module in facts.modules}
        found |= {module for rotation in self.rotations for module in rotation.modules}
        return found | ({"backends.ssm"} if config_source and config_source.startswith("ssm:")
                        else set())


def model(config: Config) -> Deployment:
    """Ask each registry's backend class, once, for everything a deployment needs."""
    return Deployment(config, tuple(facts(r) for r in config.registries.values()))


def facts(registry: Registry) -> Facts:
    """One registry's facts: its backend's declarations and what its references imply."""
    cls, settings = backends.backend_class(registry.backend_type), registry.backend
    found = refs.references(settings)
    reference_grants = [g for ref in found for g in refs.KINDS[ref.kind].grants(ref.name)]
    variables = [ref.name for ref in found if refs.KINDS[ref.kind].variable]
    return Facts(
        registry=registry, reference=cls.describe(settings),
        grants=(*cls.iam_grants(settings), *reference_grants),
        variables=(*cls.environment_variables(settings), *variables),
        hosts=(("host", registry.hostname), *((f"backend.{key}", host) for key, host
                                               in cls.network_hosts(settings))),
        region=cls.region_of(settings), distributions=tuple(cls.distributions),
        notes=tuple(cls.deploy_notes(settings)), deployable=cls.deployable,
        modules=tuple(m for m in (backends.built_in_module(registry.backend_type),
                                  *(refs.KINDS[ref.kind].module for ref in found)) if m),
        minting=cls.minting(settings, registry.host), scope=cls.scoping(settings),
        rotation=rotation_facts(registry) if registry.rotation else None)


def rotation_facts(registry: Registry) -> RotationFacts:
    """What the rotation function needs for ``registry``: stage-management of its secret only,
    the admin reference's read, encryption with the secret's own key, the hosts it reaches."""
    from urllib.parse import urlsplit

    from broker import grants, rotation

    settings, rotated = registry.backend, registry.rotation
    region = backends.backend_class(registry.backend_type).region_of(settings)
    arn = grants.secret_arn(settings.secret_id, region)
    admin = rotated.admin
    found = [grants.Grant(grants.ROTATE, arn), *refs.KINDS[admin.kind].grants(admin.name)]
    if settings.kms_key:
        found.append(grants.Decrypt(settings.kms_key, grants.via("secretsmanager", region),
                                    grants.ENCRYPT))
    module = rotation.built_in_module(rotated.type)
    origins = rotation.rotator_class(rotated.type).origins(rotated.settings)
    return RotationFacts(
        settings.secret_id, arn, rotated.schedule, tuple(found),
        (admin.name,) if refs.KINDS[admin.kind].variable else (),
        (("host", registry.hostname),
         *(("rotation.url", urlsplit(url).hostname or "") for url in origins)),
        tuple(m for m in (module, refs.KINDS[admin.kind].module) if m))
