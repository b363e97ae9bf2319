"""A real registry client accepts what the broker serves, and agrees with its preflight.

skopeo (containers/image: the login, the token exchange and the pull of a container runtime)
stands in for SageMaker's pull. Each login comes out of the packaged function in the runtime;
the broker's preflight verdict on it (``warn`` mode, so the login is served either way) must
match whether skopeo can pull the image with it.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import require_binary
from tests.e2e.test_runtime import assert_clean, served
from tests.support.registry_fixture import REPOSITORY, TAG

pytestmark = pytest.mark.slow

# (registry, stored login, can it pull?): htpasswd has no per-repository rights, so any valid
# login pulls there; the token server grants the stranger nothing.
CASES = [("token", "reader", True), ("token", "wrong", False), ("token", "stranger", False),
         ("basic", "reader", True), ("basic", "wrong", False), ("basic", "stranger", True)]


def skopeo_pull(registry, username: str, password: str, into) -> bool:
    """Copy the test image out of ``registry`` with the login, as a container runtime pulls."""
    proc = subprocess.run(
        [require_binary("skopeo"), "--insecure-policy", "copy", "--src-tls-verify=false",
         "--src-creds", f"{username}:{password}", f"docker://{registry.host}/{REPOSITORY}:{TAG}",
         f"dir:{into}"], capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(into.parent)})
    pulled = proc.returncode == 0
    assert pulled == (into / "manifest.json").exists()
    return pulled


@pytest.mark.parametrize("kind, login, pulls", CASES)
def test_skopeo_pulls_exactly_when_the_preflight_passes(lambda_tools, deployed, registries,
                                                        tmp_path, kind, login, pulls):
    alias = f"{kind}_{login}"
    with deployed.run(lambda_tools, alias) as runtime:
        username, password = served(runtime.invoke({}))
    assert_clean(runtime)
    verdict = runtime.log_lines()[-1]["preflight"]
    pulled = skopeo_pull(getattr(registries, kind), username, password, tmp_path / "image")
    assert pulled == pulls, f"skopeo {'pulled' if pulled else 'could not pull'} with {alias}"
    assert (verdict == "passed") == pulled, f"preflight {verdict}, skopeo pulled={pulled}"
