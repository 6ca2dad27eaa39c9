"""The one hardened HTTP client for calls to URLs that users supply.

Every request the server makes to a URL a user (or a plugin acting for one) supplied
goes through :class:`OutboundClient` (or :class:`AsyncOutboundClient`):

* non-public addresses (loopback, private, link-local with the 169.254.169.254
  metadata service, unspecified, multicast, reserved) are refused before connecting,
  unless ``ansflow.outbound_allowed_networks`` allows them; the check is made on the
  address the host name resolves to, and the connection goes to that checked address
  (no DNS rebinding);
* redirects are followed by the client, hop by hop, each hop checked again; credentials
  never travel to another origin;
* every call has a time budget (``ansflow.outbound_timeout_seconds``) and a size limit;
* failures raise :class:`OutboundError` subclasses whose messages can be shown to
  users: they never tell a closed port from an open one that does not answer.

Use it from a view, a worker or a scheduler::

    from ansflow_pyramid.outbound import OutboundError, get_outbound_client

    client = get_outbound_client(request.registry)
    try:
        response = client.request("GET", url, auth=(user, token), timeout=5)
    except OutboundError as error:
        return {"status": "offline", "message": str(error)}
"""

from ansflow_pyramid.outbound.client import (
    SENSITIVE_HEADERS,
    AsyncOutboundClient,
    OutboundClient,
    get_outbound_client,
)
from ansflow_pyramid.outbound.errors import (
    OutboundAddressRefused,
    OutboundError,
    OutboundInvalidURL,
    OutboundRedirectError,
    OutboundResponseTooLarge,
    OutboundTimeout,
    OutboundUnavailable,
)
from ansflow_pyramid.outbound.policy import OutboundPolicy, is_public_address

__all__ = [
    "SENSITIVE_HEADERS",
    "AsyncOutboundClient",
    "OutboundAddressRefused",
    "OutboundClient",
    "OutboundError",
    "OutboundInvalidURL",
    "OutboundPolicy",
    "OutboundRedirectError",
    "OutboundResponseTooLarge",
    "OutboundTimeout",
    "OutboundUnavailable",
    "get_outbound_client",
    "is_public_address",
]
