"""broker: the credential-broker Lambda SageMaker calls to log in to private registries.

Kept nearly empty on purpose: ``broker.handler`` imports only what the configured
backends need.
"""

__version__ = "0.1.0"
