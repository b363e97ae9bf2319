"""Create a SageMaker model (inference) whose image is pulled from a private registry through broker.

    python examples/create_model.py --registry acme \\
        --function-arn arn:aws:lambda:eu-west-1:123456789012:function:registry-broker-prod-broker \\
        --image registry.acme.example:5000/team/server:latest \\
        --role-arn arn:aws:iam::123456789012:role/SageMakerInference \\
        --subnets subnet-aaa --security-groups sg-aaa [--model-data s3://bucket/model.tar.gz] \
        [--dry-run]

CreateModel calls the same kind of function as a training job, with the same contract: the
container's ImageConfig names the registry's alias (`broker sagemaker-config --for model`).
The execution role needs `lambda:InvokeFunction` on that alias
(`broker sagemaker-config NAME --function-arn ARN --invoker-policy`), and the model's VPC must
reach the registry.
"""

from __future__ import annotations

import argparse
import time

from create_training_job import image_config, send


def request(args: argparse.Namespace) -> dict:
    """The CreateModel request."""
    container = {"Image": args.image, **image_config(args.registry, args.function_arn,
                                                     args.config, "model", args.image)}
    if args.model_data:
        container["ModelDataUrl"] = args.model_data
    return {
        "ModelName": args.model_name or f"private-image-{int(time.time())}",
        "PrimaryContainer": container,
        "ExecutionRoleArn": args.role_arn,
        "VpcConfig": {"Subnets": args.subnets.split(","),
                      "SecurityGroupIds": args.security_groups.split(",")},
    }


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--registry", "--function-arn", "--image", "--role-arn", "--subnets",
                 "--security-groups"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--config", help="broker.yml (default: $BROKER_CONFIG, ./broker.yml)")
    parser.add_argument("--model-name")
    parser.add_argument("--model-data", help="s3:// URL of the model artifacts, if any")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the CreateModel request and call nothing")
    args = parser.parse_args(argv)
    return send(args, request, lambda model: boto3.client("sagemaker").create_model(**model)[
        "ModelArn"])


if __name__ == "__main__":
    raise SystemExit(main())
