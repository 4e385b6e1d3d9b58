"""What a test can read about a running service from Linux's /proc: its child processes, their resident memory
and which of them holds the client connections to a port. Loopback services only; no third-party packages."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

PROC = Path("/proc")
TCP_ESTABLISHED = "01"


def child_pids(pid: int) -> list[int]:
    """The live children of `pid` (gunicorn's workers, for its master), in pid order."""
    children = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
            if int(fields[1]) == pid and fields[0] != "Z":
                children.append(int(entry.name))
    return sorted(children)


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (VmRSS), 0 once it has gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def tree_rss_bytes(pid: int) -> int:
    """RSS of a process and its children together (a gunicorn master and its workers)."""
    return rss_bytes(pid) + sum(rss_bytes(child) for child in child_pids(pid))


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = PROC / str(pid) / "fd"
    with contextlib.suppress(OSError):
        for fd in os.listdir(fd_dir):
            with contextlib.suppress(OSError):
                target = os.readlink(fd_dir / fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def connections_to_port(pid: int, port: int) -> int:
    """How many established TCP connections whose local port is `port` the process `pid` holds: the clients a
    gunicorn worker is serving right now."""
    inodes = _socket_inodes(pid)
    count = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == TCP_ESTABLISHED and fields[9] in inodes:
                    count += 1
    return count


def wait_children(pid: int, count: int, exclude: set[int], timeout_s: float) -> list[int]:
    """Wait until `pid` has `count` children none of which is in `exclude`; returns them (TimeoutError if not)."""
    deadline = time.monotonic() + timeout_s
    while True:
        children = child_pids(pid)
        if len(children) == count and not exclude & set(children):
            return children
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} has children {children}, wanted {count} new ones")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Wait until none of `pids` is alive; returns those still alive at the deadline."""
    deadline = time.monotonic() + timeout_s
    while [pid for pid in pids if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]
