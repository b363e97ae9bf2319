"""Why a request was refused or did not complete. Every message is safe to log: client
exceptions can quote header values (a token), so they are never chained or echoed.

Exception tree::

    TransportError
    ├── Refused         not sent: a URL, host, origin or address nobody vetted
    ├── Redirected      the answer was a redirect, which a bounded session never follows
    ├── DnsError        the name does not resolve
    ├── ConnectError    the connection was refused or could not be made
    ├── Timeout         no whole answer within the request's budget
    ├── TlsError        the TLS handshake failed (the certificate does not verify)
    ├── ProtocolError   the answer broke off, is not HTTP, or is encoded as nobody asked
    └── TooLarge        the answer is larger than the cap
"""

from __future__ import annotations


class TransportError(Exception):
    """A request that was refused or did not complete."""


class Refused(TransportError):
    """Nothing was sent: the URL, host, origin or address is not one the broker may use."""


class Redirected(TransportError):
    """The answer was a redirect; following it would carry what was sent to another place."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered HTTP {status} with a redirect, which is never "
                         "followed")
        self.status = status


class DnsError(TransportError):
    """The host name does not resolve (or not to an IP address)."""


class ConnectError(TransportError):
    """The connection was refused or could not be made."""


class Timeout(TransportError):
    """No whole answer within the request's budget (resolution included)."""


class TlsError(TransportError):
    """The TLS handshake failed."""


class ProtocolError(TransportError):
    """The answer broke off, is not HTTP, or uses an encoding that was not asked for."""


class TooLarge(TransportError):
    """The answer is larger than the cap; it was not read whole."""
