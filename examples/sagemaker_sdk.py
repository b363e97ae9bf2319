"""The same job with the SageMaker Python SDK (`pip install sagemaker`).

    python examples/sagemaker_sdk.py acme arn:aws:lambda:...:function:NAME \\
        registry.acme.example:5000/team/trainer:latest arn:aws:iam::...:role/SageMakerTrainer \\
        subnet-aaa sg-aaa s3://bucket/models/
"""

from __future__ import annotations

import json
import subprocess
import sys


def alias_arn(registry: str, function_arn: str) -> str:
    """The alias ARN from `broker sagemaker-config`, never typed by hand."""
    out = subprocess.run([sys.executable, "-m", "broker", "sagemaker-config", registry,
                          "--function-arn", function_arn], check=True, capture_output=True, text=True)
    config = json.loads(out.stdout)["TrainingImageConfig"]
    return config["TrainingRepositoryAuthConfig"]["TrainingRepositoryCredentialsProviderArn"]


def main(registry, function_arn, image, role, subnet, security_group, output) -> None:
    from sagemaker.estimator import Estimator

    estimator = Estimator(
        image_uri=image, role=role, instance_count=1, instance_type="ml.m5.large",
        output_path=output, subnets=[subnet], security_group_ids=[security_group],
        training_repository_access_mode="Vpc",
        training_repository_credentials_provider_arn=alias_arn(registry, function_arn))
    estimator.fit(wait=False)
    print(estimator.latest_training_job.name)


if __name__ == "__main__":
    main(*sys.argv[1:8])
