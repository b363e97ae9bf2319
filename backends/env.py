"""``env``: the login in two environment variables (for local runs and demos)."""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import Backend
from broker.errors import SecretNotFound
from broker.login import Login, checked_login
from broker.refs import FUNCTION_VARIABLE, is_function_variable


@dataclass(frozen=True, kw_only=True)
class EnvSettings:
    """``username_var`` and ``password_var``: names of the variables holding the login."""

    username_var: str
    password_var: str

    def check(self) -> list[tuple[str, str]]:
        return [(key, FUNCTION_VARIABLE) for key in ("username_var", "password_var")
                if is_function_variable(getattr(self, key))]


class EnvBackend(Backend):
    """Reads the login from the environment mapping it was given."""

    type = "env"
    Settings = EnvSettings
    remote = False
    deployable = False  # a test deployment's backend: build.py needs --allow-env-backend

    @classmethod
    def environment_variables(cls, settings: EnvSettings) -> list[str]:
        return [settings.username_var, settings.password_var]

    @classmethod
    def describe(cls, settings: EnvSettings) -> str:
        return f"variables {settings.username_var}, {settings.password_var}"

    def _fetch(self) -> Login:
        names = (self.settings.username_var, self.settings.password_var)
        missing = [name for name in names if not self.deps.environ.get(name)]
        if missing:
            raise self.error(SecretNotFound, f"{', '.join(missing)} not set or empty",
                             "Export both variables before running the broker")
        return checked_login(*(self.deps.environ[name] for name in names),
                             *(f"variable {name}" for name in names))
