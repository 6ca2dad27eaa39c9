"""The errors of the outbound client: one family, with messages that leak nothing.

Every failure of a call to a user-supplied URL is an :class:`OutboundError`.  Its
message is meant to be shown to the user who supplied the URL, so it says *what* went
wrong in terms they control (the URL, the redirect, the policy) and never *how* the
network failed: a closed port, a filtered port, a port that accepts the connection and
never answers, a TLS handshake with something that is not a web server and a host name
that does not resolve all read "could not be reached".  Otherwise a tool check would
be a port scanner pointed at the server's network.  The precise cause is logged (at
INFO) for the operator, and kept on the exception as ``cause`` for code that wants it.
"""

from __future__ import annotations


class OutboundError(Exception):
    """Any failure of an outbound call.  ``str(error)`` is safe to show to users."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The underlying network or protocol error, for logs (never for users).
        self.cause = cause


class OutboundInvalidURL(OutboundError):
    """The URL is not an absolute ``http``/``https`` URL with a host."""


class OutboundAddressRefused(OutboundError):
    """The host resolves to an address the policy refuses (loopback, private,
    link-local, cloud metadata, multicast, unspecified or otherwise not global), and
    neither the address nor the host name is allow-listed.  Raised before connecting."""


class OutboundUnavailable(OutboundError):
    """The remote could not be reached or gave no usable answer: DNS failure, refused or
    reset connection, TLS failure, an answer that is not HTTP.  Retrying later may help."""


class OutboundTimeout(OutboundUnavailable):
    """The remote did not answer in time.  Same message as :class:`OutboundUnavailable`
    (telling them apart would tell an open, silent port from a closed one)."""


class OutboundRedirectError(OutboundError):
    """Too many redirects, or a redirect the client refuses to follow (a non-HTTP
    target, or a request body that would be re-sent to another origin)."""


class OutboundResponseTooLarge(OutboundError):
    """``request()`` read more than ``ansflow.outbound_max_response_bytes``."""


def unreachable_message(origin: str) -> str:
    """The one message for every network-level failure reaching ``origin``."""
    return f"{origin} could not be reached or did not answer in time."
