"""Which registry an invocation is for. The first rule that applies wins:

1. env ``BROKER_REGISTRY`` names one (an alias of another registry is then refused);
2. the Lambda alias in ``context.invoked_function_arn`` names a registry (exactly);
3. the event carries ``registry`` (a name) or ``image`` (matched against ``match`` globs),
   used only when the configuration sets ``event_selection: true``, or for local runs;
4. exactly one registry is configured.

A registry pinned by rule 1 or 2 cannot be overridden: an event naming another
registry, or an image it does not serve, is refused. In Lambda, an invocation that
is not through a registry's alias (unqualified, ``$LATEST``, a version, another
alias) is refused when several registries are configured (or were deployed) and
nothing pins one: whoever may invoke the function that way must not get to choose
a login. The alias of a deployed registry that the current configuration dropped is
refused too, never served another registry's login.
SageMaker's own event payload is undocumented, so nothing else in the event is read.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from broker.errors import RegistryNotAllowed, RegistryNotSelected, UnknownRegistry, echo
from broker.model import Config, Registry


def alias_of(invoked_function_arn: Any) -> str | None:
    """The qualifier of a function ARN (``arn:aws:lambda:R:A:function:NAME:QUALIFIER``)."""
    if not isinstance(invoked_function_arn, str):
        return None
    parts = invoked_function_arn.split(":")
    return parts[7] if len(parts) == 8 and parts[5] == "function" else None


def select(config: Config, event: Any, alias: str | None, pinned_env: str | None, *,
           local: bool = False, deployed: frozenset[str] = frozenset()) -> Registry:
    """The registry for this invocation, or a BrokerError saying why none fits.

    ``local`` (the CLI) lets the event choose without ``event_selection``; ``deployed``
    names the registries the deployment pinned (each has an alias), when known.
    """
    asked = _asked(event)
    pinned = _pinned(config, alias, pinned_env, deployed)
    if pinned is not None:
        _refuse_override(pinned, *asked)
        return pinned
    by_event = local or config.event_selection
    if by_event and asked != (None, None):
        return _from_event(config, *asked)
    if len(config.registries) == 1 and len(deployed) <= 1:
        return _only(config, *asked)
    if not by_event:
        raise RegistryNotAllowed(
            f"this invocation is not through a registry's alias (qualifier: "
            f"{_shown(alias)}) and {len(config.registries)} registries are configured; "
            "refused, so that no caller can choose another registry's login",
            hint=f"Invoke the alias named after the registry ({', '.join(config.names)}), or pin "
                 "this function to one registry with BROKER_REGISTRY")
    raise RegistryNotSelected(
        f"no rule picked a registry; configured: {', '.join(config.names)}",
        hint=("Pick one: broker invoke --alias NAME (as SageMaker calls it), --registry NAME or "
              "--image IMAGE" if local else
              "Invoke the function through the alias named after the registry, set "
              "BROKER_REGISTRY, or send {\"registry\": NAME} in the event"))


def _shown(alias: str | None) -> str:
    return "none" if alias is None else f"'{echo(alias, 64)}'"


def _only(config: Config, name: str | None, image: str | None) -> Registry:
    registry = next(iter(config.registries.values()))
    if name is not None or image is not None:
        return _from_event(config, name, image)
    return registry


def _pinned(config: Config, alias: str | None, pinned_env: str | None,
            deployed: frozenset[str]) -> Registry | None:
    if pinned_env:
        return _pinned_by_env(config, alias, pinned_env, deployed)
    if alias in config.registries:
        return config.registries[alias]  # type: ignore[index]
    if alias in deployed:
        raise RegistryNotAllowed(
            f"alias '{alias}' was deployed for registry '{alias}', which the current "
            "configuration does not have; refused rather than serve another registry's login",
            hint="Put the registry back in the configuration, or remove its alias by redeploying")
    return None


def _pinned_by_env(config: Config, alias: str | None, pinned_env: str,
                   deployed: frozenset[str]) -> Registry:
    if pinned_env not in config.registries:
        raise UnknownRegistry(
            f"BROKER_REGISTRY names '{pinned_env}', which is not configured; configured: "
            f"{', '.join(config.names)}", hint="Fix BROKER_REGISTRY or add that registry")
    if alias != pinned_env and (alias in config.registries or alias in deployed):
        raise RegistryNotAllowed(
            f"this function is pinned to registry '{pinned_env}' by BROKER_REGISTRY, but was "
            f"invoked through the alias of registry '{alias}'", registry=pinned_env,
            hint="Invoke the function that serves that registry, or its own alias")
    return config.registries[pinned_env]


def _asked(event: Any) -> tuple[str | None, str | None]:
    if not isinstance(event, dict):
        return None, None
    values = []
    for key in ("registry", "image"):
        value = event.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise RegistryNotSelected(f"the event's '{key}' must be a non-empty string",
                                      hint=f"Send {{\"{key}\": \"...\"}} or leave it out")
        values.append(value)
    return values[0], values[1]


def _refuse_override(pinned: Registry, name: str | None, image: str | None) -> None:
    if name is not None and name != pinned.name:
        raise RegistryNotAllowed(
            f"this invocation is pinned to registry '{pinned.name}', but the event asks for "
            f"'{echo(name)}'", registry=pinned.name,
            hint=f"Invoke the alias '{echo(name)}' instead (its own invoke permission applies)")
    if image is not None and not matches(pinned, image):
        raise RegistryNotAllowed(
            f"this invocation is pinned to registry '{pinned.name}', which does not serve "
            f"image '{echo(image)}' (match: {', '.join(pinned.match)})", registry=pinned.name,
            hint="Invoke the alias of the registry that serves this image")


def _from_event(config: Config, name: str | None, image: str | None) -> Registry:
    if name is not None:
        if name not in config.registries:
            raise UnknownRegistry(f"the event asks for registry '{echo(name)}', which is not "
                                  f"configured; configured: {', '.join(config.names)}",
                                  hint="Use one of the configured names")
        registry = config.registries[name]
        if image is not None and not matches(registry, image):
            raise UnknownRegistry(f"the event asks for registry '{echo(name)}' and image '{echo(image)}', "
                                  f"which it does not serve (match: {', '.join(registry.match)})",
                                  registry=name, hint="Send only one of them, or fix `match`")
        return registry
    for registry in config.registries.values():
        if matches(registry, image):  # type: ignore[arg-type]
            return registry
    raise UnknownRegistry(f"no configured registry serves image '{echo(image)}'; configured: "
                          f"{', '.join(config.names)}",
                          hint="Add a `match` glob for this image to the right registry")


def matches(registry: Registry, image: str) -> bool:
    """True when ``image`` fits one of the registry's ``match`` globs."""
    return any(fnmatchcase(image, pattern) for pattern in registry.match)
