"""HTTP outside AWS: every request the broker sends to a registry, a token server, Vault or a
vendor's identity service goes through this package, one small module per concern:

- :mod:`~broker.transport.errors`: the :class:`TransportError` tree, raised for every failure;
  ``backends.base.Backend.translate`` maps it to the broker's errors, once for every backend;
- :mod:`~broker.transport.budget`: a request's time (its timeout cut to the invocation's);
- :mod:`~broker.transport.resolve`: name resolution, bounded by that time too;
- :mod:`~broker.transport.watchdog`: shuts a request's sockets when its time is spent;
- :mod:`~broker.transport.adapters`: requests' adapters and session that connect at one vetted
  address, under the watchdog, and whose client errors become TransportErrors (it imports
  requests: only configurations that send HTTP pay for it);
- :mod:`~broker.transport.guarded`: the preflight's transport (every host and address vetted,
  redirects followed by hand, capped bodies);
- :mod:`~broker.transport.bounded`: the session handed to client libraries (hvac, google-auth,
  msal): only the origins it was made for, no redirects, no proxies, bounded time and size.

This module imports nothing: a Secrets-Manager-only function never loads the rest.
"""
