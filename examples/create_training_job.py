"""Start a SageMaker training job whose image is pulled from a private registry through broker.

    python examples/create_training_job.py --registry acme \\
        --function-arn arn:aws:lambda:eu-west-1:123456789012:function:registry-broker-prod-broker \\
        --image registry.acme.example:5000/team/trainer:latest \\
        --role-arn arn:aws:iam::123456789012:role/SageMakerTrainer \\
        --subnets subnet-aaa --security-groups sg-aaa --output s3://bucket/models/ [--dry-run]

The TrainingImageConfig block comes from `broker sagemaker-config`, so the alias ARN is never
typed by hand, and an image the registry does not serve is refused. `--function-arn` takes the
stack's BrokerFunctionArn output (or the registry's AliasArn... output); `--dry-run` prints the
request and calls nothing. Private registries need VPC mode: the job's subnets must reach the registry.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any


class Refused(Exception):
    """`broker sagemaker-config` refused the registry, the ARN or the image (its message)."""


def image_config(registry: str, function_arn: str, config: str | None, use: str = "training",
                 image: str | None = None) -> dict:
    """`broker sagemaker-config --for USE` for this registry (and, checked, the image), as a
    dict."""
    command = [sys.executable, "-m", "broker", "sagemaker-config", registry, "--for", use,
               "--function-arn", function_arn] + (["--config", config] if config else []) + \
        (["--image", image] if image else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise Refused(done.stderr.strip())
    return json.loads(done.stdout)


def request(args: argparse.Namespace) -> dict:
    """The CreateTrainingJob request."""
    return {
        "TrainingJobName": args.job_name or f"private-image-{int(time.time())}",
        "AlgorithmSpecification": {
            "TrainingImage": args.image, "TrainingInputMode": "File",
            **image_config(args.registry, args.function_arn, args.config, image=args.image)},
        "RoleArn": args.role_arn,
        "OutputDataConfig": {"S3OutputPath": args.output},
        "ResourceConfig": {"InstanceType": args.instance_type, "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "VpcConfig": {"Subnets": args.subnets.split(","),
                      "SecurityGroupIds": args.security_groups.split(",")},
    }


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--registry", "--function-arn", "--image", "--role-arn", "--subnets",
                 "--security-groups", "--output"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--config", help="broker.yml (default: $BROKER_CONFIG, ./broker.yml)")
    parser.add_argument("--job-name")
    parser.add_argument("--instance-type", default="ml.m5.large")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the CreateTrainingJob request and call nothing")
    args = parser.parse_args(argv)
    return send(args, request, lambda job: boto3.client("sagemaker").create_training_job(**job)[
        "TrainingJobArn"])


def send(args: argparse.Namespace, build: Any, call: Any) -> int:
    """Build the request (2 when broker refuses it); print it under --dry-run, else make the
    call and print what it answers."""
    try:
        body = build(args)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(body, indent=2) if args.dry_run else call(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
