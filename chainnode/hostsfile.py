"""The hosts file of a network across machines, and where each node goes (sans-IO).

One host a line, `ADDRESS:COUNT` (like FISCO BCOS build_chain's `-l ip:count`): an IPv4
address, an IPv6 address in brackets or a DNS name, and how many nodes run there; `#` starts a
comment. Nodes are numbered across hosts in file order (node0, node1, ...); that number is also
the node's validator index in the genesis. Every host uses the same ports, since the hosts are
different machines: a host's k-th node listens for peers on BASE+2k and serves RPC on BASE+2k+1.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_BASE_PORT = 26600
MAX_PORT = 65535
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_COUNT_RE = re.compile(r"^[0-9]+$")
HOSTS_FORMAT = ("one host a line: ADDRESS:COUNT (IPv4, [IPv6] or a DNS name, and how many "
                "nodes run there); '#' starts a comment")


class HostsFileError(ValueError):
    """A bad hosts file: the message names the file and the line."""


@dataclass(frozen=True)
class HostEntry:
    address: str  # normalised: IP literal without brackets, or lower-case DNS name
    count: int
    line: int


@dataclass(frozen=True)
class PlannedNode:
    index: int  # its validator index in the genesis
    name: str  # node{index}
    host: str
    p2p_port: int
    rpc_port: int

    @property
    def p2p(self) -> str:
        return f"{self.host}:{self.p2p_port}"


def check_address(text: str) -> str:
    """A host address peers can dial, normalised; ValueError saying why not."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        name = text.lower().rstrip(".")
        if len(name) > 253 or not all(_LABEL_RE.match(label) for label in name.split(".")):
            raise ValueError(f"{text!r} is neither an IP address nor a DNS name") from None
        return name
    if ip.is_unspecified:
        raise ValueError(f"{text} is not an address peers can dial: list the host's own "
                         "address (to listen on every interface, use --listen)")
    if ip.is_multicast:
        raise ValueError(f"{text} is a multicast address")
    return str(ip)


def _split(token: str) -> tuple[str, str]:
    if token.startswith("["):
        addr, sep, rest = token[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError("expected [IPv6]:COUNT")
        if not isinstance(_ip_or_none(addr), ipaddress.IPv6Address):
            raise ValueError(f"[{addr}] is not an IPv6 address")
        return addr, rest[1:]
    addr, sep, count = token.rpartition(":")
    if not sep:
        raise ValueError("expected ADDRESS:COUNT, e.g. 10.0.0.1:4")
    if ":" in addr:
        raise ValueError("an IPv6 address goes in brackets: [ADDRESS]:COUNT")
    return addr, count


def _ip_or_none(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_hosts(text: str, source: str = "hosts file") -> tuple[HostEntry, ...]:
    """The hosts of a hosts file, in order; HostsFileError on the first bad line."""
    entries: list[HostEntry] = []
    seen: dict[str, int] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue

        def bad(msg: str, no: int = no) -> HostsFileError:
            return HostsFileError(f"{source} line {no}: {msg}")

        if len(line.split()) != 1:
            raise bad(f"expected one ADDRESS:COUNT, got {line!r}")
        try:
            addr_text, count_text = _split(line)
            addr = check_address(addr_text)
        except ValueError as exc:
            raise bad(f"{exc} (in {line!r})") from None
        if not _COUNT_RE.match(count_text):
            raise bad(f"node count {count_text!r} is not a whole number")
        count = int(count_text)
        if count < 1:
            raise bad(f"node count of {addr} is {count}: each host needs at least 1 node "
                      "(leave the host out instead)")
        if addr in seen:
            raise bad(f"duplicate address {addr} (already on line {seen[addr]}); give a "
                      "host's nodes as one COUNT")
        seen[addr] = no
        entries.append(HostEntry(addr, count, no))
    if not entries:
        raise HostsFileError(f"{source}: no hosts ({HOSTS_FORMAT})")
    return tuple(entries)


def plan(hosts: tuple[HostEntry, ...], base_port: int = DEFAULT_BASE_PORT,
         source: str = "hosts file") -> tuple[PlannedNode, ...]:
    """Names and ports of every node, numbered across hosts in file order."""
    if not 1 <= base_port <= MAX_PORT:
        raise ValueError(f"--base-port {base_port} is not a port")
    nodes: list[PlannedNode] = []
    for h in hosts:
        top = base_port + 2 * h.count - 1
        if top > MAX_PORT:
            raise HostsFileError(f"{source} line {h.line}: {h.count} nodes on {h.address} need "
                                 f"ports {base_port}-{top}, beyond {MAX_PORT} (lower --base-port "
                                 "or the count)")
        for k in range(h.count):
            port = base_port + 2 * k
            i = len(nodes)
            nodes.append(PlannedNode(i, f"node{i}", h.address, port, port + 1))
    return tuple(nodes)


def check_listen(listen: str | None, hosts: tuple[HostEntry, ...], flag: str = "--listen",
                 loopback_ok: bool = False) -> None:
    """A bind address must be an IP literal of the hosts' family (0.0.0.0 cannot take IPv6)."""
    if listen is None:
        return
    ip = _ip_or_none(listen)
    if ip is None:
        raise ValueError(f"{flag} {listen!r} is not an IP address (e.g. 0.0.0.0 or ::)")
    if ip.is_loopback:
        if loopback_ok:
            return
        raise ValueError(f"{flag} {listen} is a loopback address: other hosts could not "
                         "reach the nodes")
    for h in hosts:
        host_ip = _ip_or_none(h.address)
        if host_ip is not None and host_ip.version != ip.version:
            raise ValueError(f"{flag} {listen} is IPv{ip.version} but host {h.address} is "
                             f"IPv{host_ip.version}")


def package_name(address: str) -> str:
    """The package directory of a host: its address with ':' (IPv6) made file-name safe."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", address)


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def rpc_url(node: PlannedNode, bind: str) -> str:
    """Where a client on the node's host reaches its RPC bound to `bind`."""
    ip = _ip_or_none(bind)
    host = node.host if ip is not None and ip.is_unspecified else bind
    return f"http://{url_host(host)}:{node.rpc_port}"
