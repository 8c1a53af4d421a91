"""Machines for tests: network namespaces joined by a bridge (needs root).

`NetnsLab(n)` makes n "hosts": a network namespace each, joined to one bridge in the root
namespace by a veth pair, with an address from the RFC 2544 benchmarking range 198.18.0.0/15
(reserved for tests like this one; never routed). The bridge has an address in the same /24, so
the test process reaches every host's RPC directly. Each host has its own loopback and its own
ports, like a separate machine.

Every name starts with `cn<pid>-` (bridge `cn<pid>-b`, host side of the veths `cn<pid>-v<i>`,
namespaces `cn<pid>-h<i>`), so runs in parallel never clash and `leftovers()` can tell what
this run left behind. The /24 is chosen not to overlap any address or route of the root
namespace. `down()` removes everything with the prefix, also after a half-done `up()`.
Processes are not this module's business: stop the ones you started before `down()`.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess

BENCH_RANGE = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544
IP_TIMEOUT = 10.0


class LabError(RuntimeError):
    pass


def ip(*args: str, check: bool = True) -> str:
    """Run `ip ARGS`; its stdout (LabError with stderr if it fails and `check`)."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _used_networks() -> list[ipaddress.IPv4Network]:
    nets = []
    for line in ip("-4", "-o", "addr", "show").splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    for line in ip("-4", "route", "show", "table", "all").splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest and dest[0].isdigit():
            try:
                nets.append(ipaddress.ip_network(dest, strict=False))
            except ValueError:
                continue
    return nets


def free_subnet(seed: int) -> ipaddress.IPv4Network:
    """A /24 of the benchmarking range that no address or route here overlaps."""
    subnets = list(BENCH_RANGE.subnets(new_prefix=24))
    used = _used_networks()
    for k in range(len(subnets)):
        cand = subnets[(seed + k) % len(subnets)]
        if not any(cand.overlaps(u) for u in used):
            return cand
    raise LabError(f"every /24 of {BENCH_RANGE} is in use here")


class NetnsLab:
    def __init__(self, hosts: int) -> None:
        assert hosts <= 250, "one /24 for the hosts and the bridge"
        self.hosts = hosts
        self.prefix = f"cn{os.getpid()}-"
        self.bridge = self.prefix + "b"
        self.namespaces = [f"{self.prefix}h{i}" for i in range(hosts)]
        self.subnet: ipaddress.IPv4Network | None = None
        self.addresses: list[str] = []

    def up(self) -> NetnsLab:
        self.subnet = free_subnet(os.getpid())
        gw = self.subnet[254]
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{gw}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for i, ns in enumerate(self.namespaces):
            addr = str(self.subnet[i + 1])
            veth, inner = f"{self.prefix}v{i}", f"{self.prefix}p{i}"
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("link", "add", veth, "type", "veth", "peer", "name", inner, "netns", ns)
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", inner)
            ip("-n", ns, "link", "set", inner, "up")
            ip("link", "set", veth, "master", self.bridge)
            ip("link", "set", veth, "up")
            self.addresses.append(addr)
        return self

    def exec_prefix(self, host: int) -> list[str]:
        """Prefix of a command that runs on host `host` (exec, so the pid is the command's)."""
        return ["ip", "netns", "exec", self.namespaces[host]]

    def pids(self, ns: str) -> list[int]:
        return [int(p) for p in ip("netns", "pids", ns, check=False).split()]

    def leftovers(self) -> list[str]:
        """Namespaces and root-namespace links of this lab that still exist."""
        names = [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]
        links = [line.split(":")[1].strip().split("@")[0]
                 for line in ip("-o", "link", "show").splitlines() if ":" in line]
        return sorted(n for n in names + links if n.startswith(self.prefix))

    def down(self) -> list[str]:
        """Delete every namespace and link of this lab; what went wrong (empty if nothing).

        A namespace that still has processes is reported: the test did not stop what it
        started (they are not killed here; only their starter may do that)."""
        problems = []
        for name in self.leftovers():
            if name in self.namespaces:
                left = self.pids(name)
                if left:
                    problems.append(f"processes {left} still running in {name}")
                out = subprocess.run(["ip", "netns", "delete", name], capture_output=True,
                                     text=True, timeout=IP_TIMEOUT)
            else:  # a veth goes with its peer; the bridge last
                out = subprocess.run(["ip", "link", "delete", name], capture_output=True,
                                     text=True, timeout=IP_TIMEOUT)
            if out.returncode != 0 and "Cannot find device" not in out.stderr:
                problems.append(f"deleting {name}: {out.stderr.strip()}")
        return problems
