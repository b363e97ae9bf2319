"""broker: the credential-broker Lambda SageMaker calls to log in to private registries.

Kept empty on purpose: ``broker.handler`` imports only what the configured
backends need.
"""
