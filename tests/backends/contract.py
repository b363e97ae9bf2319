"""The contract every backend passes: it lives in broker.testing, where plugins find it."""

from broker.testing import (
    HOST,
    REGISTRY,
    STALE,
    TTL,
    BackendContract,
    DocumentContract,
    RemoteContract,
    Store,
    TextDocumentContract,
    expect_error,
    invoke,
    login,
    make_app,
)

__all__ = ["HOST", "REGISTRY", "STALE", "TTL", "BackendContract", "DocumentContract",
           "RemoteContract", "Store", "TextDocumentContract", "expect_error", "invoke", "login",
           "make_app"]
