"""A rotation as deployed: the zip's rotation function, in the Lambda runtime, driven by
Secrets Manager's RotateSecret (moto's), renews a Harbor robot (the stand-in's API) whose
accounts a real registry's token server follows; then the zip's broker serves the new login,
and skopeo pulls with it and with the login served before the rotation."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import _aws_env, _deploy
from tests.e2e.test_registry_client import skopeo_pull
from tests.e2e.test_runtime import assert_clean, served
from tests.support.lambda_runtime import LambdaRuntime
from tests.support.rotation import follow, rotated_registry, secrets_manager_invokes
from tests.support.vendors.harbor import HarborStandIn

pytestmark = pytest.mark.slow


@pytest.fixture
def harbor(tmp_path, registries):
    stand_in = HarborStandIn(tmp_path, project="e2e")
    follow(stand_in, registries.token_server)
    yield stand_in
    stand_in.stop()


@pytest.fixture
def rotating(aws, moto, harbor, registries, store_proxy, tmp_path):
    rotated = rotated_registry(aws, moto, harbor, registries.token, harbor.logins[7])
    (admin_variable, admin), = harbor.environ().items()
    deployment = _deploy(rotated.config, tmp_path / "packaged", _aws_env(store_proxy), {},
                         "--env", f"{admin_variable}={admin}", "--allow-env-backend")
    rotation_env = json.loads((tmp_path / "packaged" / "build" / "deploy.json").read_text())[
        "rotationFunction"]["rotation"]["environment"]
    deployment.env.update({k: v.replace("/var/task", str(deployment.task))
                           for k, v in rotation_env.items()})
    return rotated, deployment


def test_rotated_by_the_packaged_function_then_both_logins_pull(
        lambda_tools, rotating, harbor, registries, tmp_path):
    rotated, deployment = rotating
    with deployment.run(lambda_tools, rotated.name) as broker:
        before = served(broker.invoke({}))
    rotation = LambdaRuntime(lambda_tools, deployment.task, deployment.env,
                             function_name="registry-broker-e2e-rotation",
                             handler="broker.rotation.handler.handler", timeout_s=120)
    with rotation, secrets_manager_invokes(rotated, rotation.invoke) as events:
        rotated.rotate()
    assert [e["Step"] for e in events] == ["createSecret", "setSecret", "testSecret",
                                           "finishSecret"]
    lines = [line for line in rotation.log_lines() if line.get("event") == "rotation_step"]
    assert [(line["step"], line["RotationFailed"]) for line in lines] == [
        ("createSecret", 0), ("setSecret", 0), ("testSecret", 0), ("finishSecret", 0)]
    assert_clean(rotation)
    with deployment.run(lambda_tools, rotated.name) as broker:
        after = served(broker.invoke({}))
    assert_clean(broker)
    assert after == (harbor.logins[8].username, harbor.logins[8].password) and after != before
    for name, (username, password) in (("after", after), ("before", before)):
        assert skopeo_pull(registries.token, username, password, tmp_path / name), name
