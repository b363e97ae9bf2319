"""Names that AWS managed policies would hand to every SageMaker execution role.

``AmazonSageMakerFullAccess``, attached to many SageMaker execution roles, allows
``lambda:InvokeFunction`` on ``arn:aws:lambda:*:*:function:*SageMaker*`` (also ``*sagemaker*``,
``*Sagemaker*`` and ``*LabelingFunction*``); ``AmazonSageMakerPipelinesIntegrations`` adds
``*sageMaker*`` (and ``lambda:UpdateFunctionCode``), ``AmazonSageMakerGroundTruthExecution``
``*GtRecipe*``. IAM's ``*`` also matches ``:``, so the patterns match a function's aliases
too: a function or alias whose ARN holds one of these words can be invoked, through every
alias, by every role with such a policy, whatever the alias's own permissions say.
"""

from __future__ import annotations

RISKY_WORDS = ("sagemaker", "labelingfunction", "gtrecipe")
"""Lower-case; a name holding one in any letter case is refused."""


def managed_policy_risk(name: str) -> str | None:
    """Why ``name`` must not be part of a function or alias ARN, or None when it is safe."""
    lowered = name.lower()
    word = next((w for w in RISKY_WORDS if w in lowered), None)
    if word is None:
        return None
    return (f"holds '{word}' (in any letter case): the AWS managed policy AmazonSageMakerFullAccess "
            "(and its siblings) lets every role that has it invoke any Lambda function or alias "
            "whose ARN holds that word, which would hand every registry's login to every such "
            "SageMaker role")
