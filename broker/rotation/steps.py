"""Secrets Manager's four rotation steps, for a secret holding a registry's login.

Following AWS's contract: every step first checks the secret is enabled for rotation and
the request's version is staged ``AWSPENDING`` (already ``AWSCURRENT``: nothing to do); every
step can be run again (Secrets Manager retries a failed one) with the same result; nothing
but ``finishSecret`` moves ``AWSCURRENT``.

- ``createSecret`` renews the login that is *not* current (the rotator calls the registry's
  API) and stores it, with what the next rotation needs, as the version's ``AWSPENDING``
  value. A rotation that failed before leaves its version without a stage; the next one
  starts from what that version records (a GitLab token's new id), so it starts clean.
- ``setSecret`` has nothing to do: the registry made (or holds) the login already.
- ``testSecret`` is the preflight: the pending login must log in and reach the registry's
  ``repository``; any failure or warning fails the step, naming the preflight's step.
- ``finishSecret`` moves ``AWSCURRENT`` to the version (the old one becomes
  ``AWSPREVIOUS``: still a working login, the other slot) and drops ``AWSPENDING``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from broker import aws as aws_errors
from broker.errors import BrokerError, RotationFailed
from broker.login import FormatProblem, Login
from broker.model import Registry
from broker.rotation import rotator_class, state
from broker.rotation.base import Rotator, Slot

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
STORE_TIMEOUT = 5.0  # the rotation function's Secrets Manager client (handler.py)
CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
UNFINISHED_LOOKED_AT = 3


class Context(NamedTuple):
    """What a step needs: the registry, a Secrets Manager client, the rotator (built on
    demand: only ``createSecret`` reads the admin credential), the preflight, the time of day
    (ISO 8601) and whether ``broker rotate`` runs it (it makes its own version ids)."""

    registry: Registry
    client: Any
    rotator: Callable[[], Rotator]
    check: Callable[[Registry, Login], Any]
    now: Callable[[], str]
    local: bool = False


def run(step: str, described: dict, token: str, ctx: Context) -> str:
    """Run ``step`` for version ``token`` of the secret ``described`` (DescribeSecret's
    answer); return what it did, in a few words."""
    secret = Secret(ctx, described["ARN"])
    if _staged(described, token, step, ctx) == CURRENT:
        return "the version is already AWSCURRENT: nothing to do"
    if step == "createSecret":
        return _create(secret, described, token, ctx)
    if step == "setSecret":
        return "nothing to do: the registry made the login at createSecret"
    if step == "testSecret":
        return _test(secret, token, ctx)
    return _finish(secret, described, token)


def _staged(described: dict, token: str, step: str, ctx: Context) -> str | None:
    if not described.get("RotationEnabled") and not ctx.local:
        raise _fail(ctx, "rotation is not enabled on the secret", "Deploy the stack (its "
                    "RotationSchedule enables it), or run `broker rotate NAME` from a workstation")
    stages = (described.get("VersionIdsToStages") or {}).get(token)
    if stages is None and ctx.local and step == "createSecret":
        return None
    if stages is None:
        raise _fail(ctx, f"version {token} of the secret is not staged for rotation",
                    "Only Secrets Manager's RotateSecret (or `broker rotate NAME`) starts one")
    if CURRENT in stages:
        return CURRENT
    if PENDING not in stages:
        raise _fail(ctx, f"version {token} is no longer AWSPENDING: another rotation took over",
                    "Let that rotation finish; this one changed nothing current")
    return PENDING


def _create(secret: Secret, described: dict, token: str, ctx: Context) -> str:
    if secret.value(version=token, stage=PENDING) is not None:
        return "the pending login exists (a retry): nothing to do"
    cls = rotator_class(ctx.registry.rotation.type)
    first = cls.first_ids(ctx.registry.rotation.settings)
    current = _state(ctx, secret.value(stage=CURRENT), first)
    settings = ctx.registry.rotation.settings
    base = cls.ids_for(settings, (_unfinished(secret, current, first, ctx) or current).ids
                       if cls.ids_change else current.ids)
    slot = 1 - current.slot
    _check_ids(ctx, cls, base)
    _check_time(ctx, cls)
    if ctx.local:
        _still_alone(secret, described, ctx)
    rotator = ctx.rotator()
    target = Slot(slot, base[slot])
    if target.id is not None and not rotator.owns(target):
        raise _fail(ctx, f"the secret records login {slot} as {target.id}, which is not a login "
                    "this rotation may renew (the configured ones, or pull-only logins of the "
                    "configured user)", "Someone edited the secret's `rotation` record: store "
                    "the login by hand without it (docs/rotation.md#recovery-by-hand)")
    renewed = rotator.renew(target)
    _check_renewed(ctx, cls, renewed)
    ids = tuple(renewed.id if i == slot else base[i] for i in (0, 1))
    stored = state.write(ctx.registry.backend, renewed.login, state.State(slot, ids, ctx.now()),
                         cls.type, renewed.expires)
    secret.put_pending(token, stored)
    return f"renewed login {slot} ({renewed.id}) and stored it as AWSPENDING"


def _unfinished(secret: Secret, current: state.State, first: tuple,
                ctx: Context) -> state.State | None:
    """What a rotation that failed after renewing the same slot recorded (its version lost its
    stage when this rotation began): that slot's id may have changed at the registry. Only
    the newest few versions without a stage are read (newest first; listed last on a tie),
    and only one made after the current login, not in the future, that agrees with it on the
    current slot's id."""
    unstaged = [v for v in reversed(secret.versions()) if not v.get("VersionStages")]
    newest = sorted(unstaged, key=lambda v: v["CreatedDate"], reverse=True)
    found = [_recorded(secret, v["VersionId"], first) for v in newest[:UNFINISHED_LOOKED_AT]]
    now, slot = ctx.now(), current.slot
    later = [s for s in found if s and s.slot != slot and s.made and s.made <= now
             and (current.made is None or s.made > current.made)
             and s.ids[slot] == current.ids[slot]]
    return max(later, key=lambda s: s.made, default=None)


def _check_ids(ctx: Context, cls: type[Rotator], ids: tuple) -> None:
    bad = [i for i in ids if i is not None and not cls.valid_id(i)]
    if bad or (cls.ids_required and None in ids):
        raise _fail(ctx, "the secret's `rotation` record holds an id that is not one "
                    f"{cls.type} knows", "Store the login by hand without the record "
                    "(docs/rotation.md#recovery-by-hand)")


def _check_time(ctx: Context, cls: type[Rotator]) -> None:
    """A renewal cannot be undone (the old login is gone at the registry): it starts only when
    its calls and the store that keeps its result fit the step's time."""
    from broker.deadline import current

    needed = cls.calls * ctx.registry.timeout + aws_errors.call_seconds(STORE_TIMEOUT)
    if not current().allows(needed):
        raise _fail(ctx, f"not enough time left in the step for a renewal ({needed:g} s: "
                    f"{cls.calls} calls of `timeout` and the store)", "Lower the registry's "
                    "`timeout`; Secrets Manager retries the step")


def _still_alone(secret: Secret, described: dict, ctx: Context) -> None:
    """``broker rotate`` renews only while no other rotation has begun since it looked."""
    now = secret.describe().get("VersionIdsToStages") or {}
    before = described.get("VersionIdsToStages") or {}
    if _holder(now, CURRENT) != _holder(before, CURRENT) or _holder(now, PENDING) not in (
            None, _holder(now, CURRENT)):
        raise _fail(ctx, "another rotation of the secret began meanwhile", "Wait for it "
                    "(broker rotate NAME --status); nothing was renewed")


def _holder(stages: dict, stage: str) -> str | None:
    return next((version for version, labels in stages.items() if stage in labels), None)


def _check_renewed(ctx: Context, cls: type[Rotator], renewed: Any) -> None:
    said = str(renewed.id)
    echoed = said == renewed.login.password or (len(said) >= 16 and said in renewed.login.password)
    if renewed.id is not None and (not cls.valid_id(renewed.id) or echoed):
        raise _fail(ctx, f"{cls.type} answered a login id that is not one of its ids",
                    "The renewed login is not stored; check the registry's API (a proxy "
                    "answering in its place?)")


def _recorded(secret: Secret, version: str, first: tuple) -> state.State | None:
    """The state a version records; None for one that records none, or no value."""
    text = secret.value(version=version)
    try:
        found = state.read(state.document(text), first) if text else None
    except FormatProblem:
        return None
    return found if found and found.made else None


def _test(secret: Secret, token: str, ctx: Context) -> str:
    text = secret.value(version=token, stage=PENDING)
    if text is None:
        raise _fail(ctx, f"version {token} has no AWSPENDING value: createSecret did not store "
                    "one", "Secrets Manager retries the rotation from createSecret")
    try:
        login = ctx.registry.backend.parse(text, ctx.registry.host)
    except FormatProblem as exc:
        raise _fail(ctx, f"the pending value is not a login: {exc}", "Start a new rotation") from None
    result = ctx.check(ctx.registry, login)
    if not result.ok or result.warnings:
        raise _fail(ctx, f"the pending login failed the preflight at step '{result.step}': "
                    f"{result.summary}", "AWSCURRENT is unchanged and still served; fix what the "
                    "preflight names (the new login's rights on `repository`), then rotate again")
    return f"the pending login passed the preflight ({result.scheme}, {result.round_trips} requests)"


def _finish(secret: Secret, described: dict, token: str) -> str:
    stages = described.get("VersionIdsToStages") or {}
    current = next(v for v, labels in stages.items() if CURRENT in labels)
    secret.move(CURRENT, to=token, away=current)
    secret.move(PENDING, to=None, away=token)
    return f"AWSCURRENT moved to version {token}; version {current} is AWSPREVIOUS"


def _state(ctx: Context, text: str | None, first: tuple) -> state.State:
    if text is None:
        raise _fail(ctx, "the secret has no AWSCURRENT value", "Store the first login by hand "
                    "(docs/rotation.md#setup)")
    try:
        return state.read(state.document(text), first)
    except FormatProblem as exc:
        raise _fail(ctx, str(exc), exc.hint or "Store the login as a JSON object") from None


def _fail(ctx: Context, problem: str, hint: str) -> RotationFailed:
    return RotationFailed(problem, registry=ctx.registry.name, backend="rotation",
                          reference=ctx.registry.backend.secret_id, hint=hint)


class Secret:
    """The rotated secret's reads and writes; every AWS error is a BrokerError naming the
    registry and the secret."""

    def __init__(self, ctx: Context, arn: str) -> None:
        self.ctx, self.arn = ctx, arn

    def value(self, *, version: str | None = None, stage: str | None = None) -> str | None:
        """The SecretString of ``version`` (and/or ``stage``); None when there is none."""
        asked = {"SecretId": self.arn, **({"VersionId": version} if version else {}),
                 **({"VersionStage": stage} if stage else {})}
        try:
            return self.ctx.client.get_secret_value(**asked).get("SecretString")
        except Exception as exc:
            if aws_errors.error_code(exc) == "ResourceNotFoundException":
                return None
            raise self._translated(exc) from None

    def describe(self) -> dict:
        """DescribeSecret's answer, now."""
        return self._call("describe_secret")

    def versions(self) -> list[dict]:
        """Every version, those without a stage included (newest 100)."""
        return self._call("list_secret_version_ids", IncludeDeprecated=True)["Versions"]

    def put_pending(self, token: str, text: str) -> None:
        """Store ``text`` as version ``token``, staged AWSPENDING."""
        self._call("put_secret_value", ClientRequestToken=token, SecretString=text,
                   VersionStages=[PENDING])

    def move(self, stage: str, *, to: str | None, away: str) -> None:
        """Move ``stage`` from version ``away`` to version ``to`` (None: just remove it)."""
        moved = {"MoveToVersionId": to} if to else {}
        self._call("update_secret_version_stage", VersionStage=stage, RemoveFromVersionId=away,
                   **moved)

    def _call(self, name: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.ctx.client, name)(SecretId=self.arn, **kwargs)
        except Exception as exc:
            raise self._translated(exc) from None

    def _translated(self, exc: Exception) -> BrokerError:
        registry = self.ctx.registry
        error = aws_errors.translate(exc, lambda cls, problem, hint: cls(
            problem, registry=registry.name, backend="rotation secretsmanager",
            reference=registry.backend.secret_id, hint=hint))
        return error or _fail(self.ctx, f"unexpected {type(exc).__name__} from Secrets Manager",
                              "Retry; if it persists, check the function's network access")
