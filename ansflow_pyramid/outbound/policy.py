"""The outbound address policy: which addresses the server may connect to.

Addresses that are not globally routable are refused: loopback (127.0.0.0/8, ::1),
private networks (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 with
the cloud metadata service at 169.254.169.254, fe80::/10), carrier-grade NAT, the
unspecified address (0.0.0.0, ::), multicast, and reserved or documentation ranges.
IPv4 addresses embedded in IPv6 (``::ffff:127.0.0.1``, NAT64, 6to4) are judged by
the IPv4 address they carry.  Operators allow exceptions with
``ansflow.outbound_allowed_networks``: CIDR networks, single addresses, or host names
(a host name is allowed whatever it resolves to, so list names only for hosts whose
DNS you control).

The policy is applied to the addresses a host name *resolves to*, at the moment the
client connects, and the client then connects to exactly the address it checked: a
DNS answer that changes between a check and the connection (DNS rebinding) cannot
slip a private address in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ansflow_pyramid.settings import as_list

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_NETWORKS_SETTING = "ansflow.outbound_allowed_networks"
TIMEOUT_SETTING = "ansflow.outbound_timeout_seconds"
CONNECT_TIMEOUT_SETTING = "ansflow.outbound_connect_timeout_seconds"
MAX_RESPONSE_SETTING = "ansflow.outbound_max_response_bytes"
CA_BUNDLE_SETTING = "ansflow.outbound_ca_bundle"

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

#: The metadata services of the large clouds, refused by name for clarity (they are
#: link-local or private addresses, which are refused anyway).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address (the default allow)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and not is_public_address(embedded):
        return False
    if address in METADATA_ADDRESSES:
        return False
    return bool(address.is_global) and not address.is_multicast


def _parse_float(value: Any, default: float, name: str) -> float:
    if value is None or str(value).strip() == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return number


@dataclass(frozen=True)
class OutboundPolicy:
    """What outbound calls may reach, and how long they may take.

    ``allowed_networks`` and ``allowed_hosts`` are the exceptions to the rule that only
    public addresses are reachable.  ``timeout`` bounds a whole ``request()`` (every
    redirect hop and the body); ``connect_timeout`` bounds DNS plus each connection.
    """

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    #: A CA bundle (file) to verify TLS with instead of the default trust store.
    ca_bundle: str = ""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> OutboundPolicy:
        """Read ``ansflow.outbound_*`` settings (see the module and README).

        ``ansflow.outbound_allowed_networks``: space- or comma-separated CIDRs,
        addresses or host names allowed although not public (default: none).
        ``ansflow.outbound_timeout_seconds``: the budget of one call (default 10).
        ``ansflow.outbound_connect_timeout_seconds``: DNS and connect (default
        ``min(5, timeout)``).  ``ansflow.outbound_max_response_bytes`` (16 MiB) and
        ``ansflow.outbound_ca_bundle`` (a PEM file) complete them.
        """
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for word in as_list(settings.get(ALLOWED_NETWORKS_SETTING)):
            try:
                networks.append(ipaddress.ip_network(word.strip("[]"), strict=False))
            except ValueError:
                if "/" in word or not word.replace("-", "").replace(".", "").isalnum():
                    raise ValueError(
                        f"{ALLOWED_NETWORKS_SETTING}: {word!r} is neither a network "
                        "(CIDR), an address nor a host name"
                    ) from None
                hosts.add(word.lower().rstrip("."))
        timeout = _parse_float(settings.get(TIMEOUT_SETTING), DEFAULT_TIMEOUT, TIMEOUT_SETTING)
        connect = _parse_float(
            settings.get(CONNECT_TIMEOUT_SETTING),
            min(DEFAULT_CONNECT_TIMEOUT, timeout),
            CONNECT_TIMEOUT_SETTING,
        )
        raw_max = settings.get(MAX_RESPONSE_SETTING)
        max_bytes = int(raw_max) if raw_max not in (None, "") else DEFAULT_MAX_RESPONSE_BYTES
        return cls(
            allowed_networks=tuple(networks),
            allowed_hosts=frozenset(hosts),
            timeout=timeout,
            connect_timeout=min(connect, timeout),
            max_response_bytes=max_bytes,
            ca_bundle=str(settings.get(CA_BUNDLE_SETTING) or "").strip(),
        )

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` (a name) is allow-listed by name."""
        return host.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, address: IPAddress | str) -> bool:
        """Whether connecting to ``address`` is allowed (public, or allow-listed)."""
        if isinstance(address, str):
            address = ipaddress.ip_address(address.split("%", 1)[0])
        if any(address in network for network in self.allowed_networks):
            return True
        embedded = _embedded_ipv4(address)
        if embedded is not None and any(embedded in net for net in self.allowed_networks):
            return True
        return is_public_address(address)
