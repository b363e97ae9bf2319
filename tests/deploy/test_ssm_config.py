"""An ``ssm:`` configuration in YAML, as the README documents it, read by the packaged function."""

from __future__ import annotations

import json
import zipfile

import yaml

from tests.support import leaks
from tests.support.packaging import build
from tests.support.runtime import run_handler

PARAMETER = "/packaged/config"


def test_the_packaged_function_reads_a_yaml_ssm_config(aws, moto, tmp_path):
    password = leaks.secret("password")
    aws("secretsmanager").create_secret(Name="packaged/acme", SecretString=json.dumps(
        {"username": "robot", "password": password}))
    config = {"registries": {"acme": {"host": "registry.acme.example", "backend": {
        "type": "secretsmanager", "secret_id": "packaged/acme"}}}}
    proc = build(config, tmp_path, "--config-source", f"ssm:{PARAMETER}")
    assert proc.returncode == 0, proc.stderr
    aws("ssm").put_parameter(Name=PARAMETER, Value=yaml.safe_dump(config), Type="String",
                             Overwrite=True)
    with zipfile.ZipFile(tmp_path / "build" / "broker.zip") as archive:
        archive.extractall(tmp_path / "task")
    env = {"BROKER_CONFIG": f"ssm:{PARAMETER}", "AWS_ENDPOINT_URL": moto.url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    ran = run_handler(tmp_path / "task", env, "acme")
    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout.splitlines()[-1])
    assert answer == {"Credentials": {"Username": "robot", "Password": password}}, answer
