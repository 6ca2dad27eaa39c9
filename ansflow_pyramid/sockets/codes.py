"""What a refused or closed socket is told: HTTP statuses before the upgrade, close
codes after it.  Clients branch on these; they are part of the API (see README).

Before the upgrade the server answers the handshake with an HTTP status and a JSON
body ``{"detail", "code"}``, like every other API error:

======  ======================  ==================================================
status  code                    why
======  ======================  ==================================================
403     ``origin_not_allowed``  the ``Origin`` header names a host not allowed
401     ``not_authenticated``   no credentials, or they do not authenticate
403     ``permission_denied``   authenticated, but the resource's ACL says no
404     ``not_found``           no such execution (or one the caller may not see)
======  ======================  ==================================================

After the upgrade a socket is closed with one of these codes:
"""

from __future__ import annotations

#: The execution reached a final state and every message was sent.
NORMAL = 1000
#: The server is shutting down.
GOING_AWAY = 1001
#: A client message larger than ``ansflow.socket_max_message_bytes``.
MESSAGE_TOO_BIG = 1009
#: This process serves ``ansflow.socket_max_connections`` sockets already.
TRY_AGAIN_LATER = 1013
#: The credentials ended: logout, session expired or deleted, token revoked or
#: expired, user deactivated.
CREDENTIALS_ENDED = 4401
#: A periodic re-check found the caller may no longer view the resource.
PERMISSION_LOST = 4403
#: The client did not read its messages fast enough (its send buffer filled up).
SLOW_CLIENT = 4408
#: The user has ``ansflow.socket_max_per_user`` sockets open on this process already.
TOO_MANY_FOR_USER = 4429

CLOSE_REASONS = {
    NORMAL: "execution finished",
    GOING_AWAY: "server shutting down",
    MESSAGE_TOO_BIG: "message too big",
    TRY_AGAIN_LATER: "too many sockets on this server",
    CREDENTIALS_ENDED: "credentials ended",
    PERMISSION_LOST: "permission lost",
    SLOW_CLIENT: "client too slow",
    TOO_MANY_FOR_USER: "too many sockets for this user",
}
