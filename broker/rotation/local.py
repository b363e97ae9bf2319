"""``broker rotate NAME``: one rotation from a workstation, through the same four steps and
checks as the rotation function; ``--dry-run`` says what it would do, ``--status`` shows the
secret's stages and when each login was made. Nothing it prints holds a login."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.errors import RotationFailed
from broker.model import Registry
from broker.rotation.handler import RotationApp, describe
from broker.rotation.steps import CURRENT, PENDING, STEPS

STEP_TIMEOUT_MS = 120_000  # the rotation function's timeout (deploy/rotation.py)
IN_PROGRESS = timedelta(minutes=15)
"""A pending version younger than this belongs to a rotation still running (the rotation
function's timeout is 2 minutes a step); an older one is a failed rotation, started over."""


class Workstation:
    """The rotation function's steps run here, for one registry."""

    def __init__(self, app: RotationApp, registry: Registry) -> None:
        import backends

        self.app, self.registry = app, registry
        region = backends.backend_class(registry.backend_type).region_of(registry.backend)
        self.client = app.aws.client("secretsmanager", region=region)  # where the broker reads it

    def status(self) -> list[str]:
        """One line per version that has a stage: stages, version, created, slot, made."""
        versions = self.client.list_secret_version_ids(
            SecretId=self.registry.backend.secret_id)["Versions"]
        lines = [f"{self.registry.name}: {self._enabled()}"]
        for version in sorted(versions, key=lambda v: v["CreatedDate"], reverse=True):
            if version.get("VersionStages"):
                lines.append(self._line(version))
        return lines

    def dry_run(self) -> list[str]:
        """What a rotation would do now, without doing it."""
        from broker.rotation import rotator_class, state

        rotation = self.registry.rotation
        cls = rotator_class(rotation.type)
        current = state.read(self._document(CURRENT) or {}, cls.first_ids(rotation.settings))
        slot, ids = 1 - current.slot, cls.ids_for(rotation.settings, current.ids)
        return [f"{self.registry.name}: {self._enabled()}",
                f"createSecret: renew login {slot} ({ids[slot]}) with {rotation.type} at "
                f"{rotation.settings.url}, reading the admin credential from {rotation.admin}; "
                f"store it as AWSPENDING of {self.registry.backend.secret_id}",
                "setSecret: nothing (the registry makes the login at createSecret)",
                f"testSecret: the preflight of the pending login against {self.registry.host}, "
                f"pulling {self.registry.repository}:{self.registry.reference}",
                f"finishSecret: make it AWSCURRENT; login {current.slot} (served now) becomes "
                "AWSPREVIOUS and keeps working until the next rotation",
                "dry run: nothing was changed"]

    def rotate(self) -> list[str]:
        """Run the four steps; the lines say what each did. Refuses while another runs."""
        self._refuse_if_running()
        token, lines = str(uuid.uuid4()), []
        arn = describe(self.client, self.registry.backend.secret_id)["ARN"]  # names its region
        for step in STEPS:
            done = self.app.run({"Step": step, "SecretId": arn,
                                 "ClientRequestToken": token}, _StepBudget(), local=True)
            lines.append(f"{step}: {done['outcome']}")
        return lines

    def _refuse_if_running(self) -> None:
        versions = self.client.list_secret_version_ids(
            SecretId=self.registry.backend.secret_id)["Versions"]
        now = datetime.now(UTC)
        for version in versions:
            stages = version.get("VersionStages", [])
            if PENDING in stages and CURRENT not in stages and \
                    now - version["CreatedDate"] < IN_PROGRESS:
                raise RotationFailed(
                    f"a rotation is in progress (version {version['VersionId']} is AWSPENDING, "
                    f"created {version['CreatedDate']:%H:%M:%S} UTC)", registry=self.registry.name,
                    backend="rotation", reference=self.registry.backend.secret_id,
                    hint="Wait for it to finish (broker rotate NAME --status); a failed one "
                         "is started over after 15 minutes")

    def _enabled(self) -> str:
        described = describe(self.client, self.registry.backend.secret_id)
        if described.get("RotationEnabled"):
            return f"rotation enabled ({self.registry.rotation.schedule})"
        return ("rotation not enabled on the secret (the stack's RotationSchedule enables it); "
                "broker rotate runs anyway")

    def _document(self, stage: str) -> dict | None:
        try:
            text = self.client.get_secret_value(SecretId=self.registry.backend.secret_id,
                                                VersionStage=stage)["SecretString"]
            found = json.loads(text)
        except Exception:  # noqa: BLE001 - shown as unknown; never echoed
            return None
        return found if isinstance(found, dict) else None

    def _line(self, version: dict) -> str:
        stages = ",".join(sorted(version["VersionStages"]))
        recorded = self._recorded(version["VersionId"])
        slot = recorded.get("slot", "?") if recorded else "-"
        made = recorded.get("made") if recorded else None
        return (f"  {stages:<24} {version['VersionId']}  created "
                f"{version['CreatedDate']:%Y-%m-%d %H:%M:%S}  login {slot}  made "
                f"{made or 'by hand'}")

    def _recorded(self, version_id: str) -> dict[str, Any] | None:
        try:
            text = self.client.get_secret_value(SecretId=self.registry.backend.secret_id,
                                                VersionId=version_id).get("SecretString", "")
            found = json.loads(text).get("rotation")
        except Exception:  # noqa: BLE001 - a value that is not ours: nothing recorded
            return None
        return found if isinstance(found, dict) else None


class _StepBudget:
    """Each step gets the rotation function's own timeout, as in Lambda."""

    aws_request_id = "broker-rotate"

    def get_remaining_time_in_millis(self) -> int:
        return STEP_TIMEOUT_MS
