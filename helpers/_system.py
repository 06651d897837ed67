"""What the operating system says about a process: descriptors, memory, CPU, listen queues (private to the helpers).

Who calls it: the measuring helpers (``swarm``, ``c10k``, ``models``, ``echobench``, ``servers``),
chapter 05's checks, and the programs that run as ``python -m`` in a fresh interpreter (the
showdown's and the echo bench's). One reader per question, so two helpers never read the same
file two ways:

    HAVE_PROC, SOMAXCONN  whether /proc has what the census reads (Linux); the somaxconn file
    raise_fd_limit()      soft descriptor limit raised toward the hard one (capped, never raises); (soft, hard)
    fd_hard_limit()       the hard descriptor limit (1 << 20 when the system says "unlimited")
    fd_numbers(pid)       the descriptor numbers a process has open
    open_fds()            how many descriptors this process has open (a default where unknown)
    mem_available()       the kernel's MemAvailable in bytes, or None
    somaxconn()           the kernel's cap on any listen backlog, or None
    listen_queue(port)    (connections queued, backlog) of a listener on this machine, or None
    listening_here(port)  whether a socket of this process listens on ``port``
    status_kb(field, pid) one "kB" line of /proc/<pid>/status (VmRSS, VmHWM, Threads...)
    smaps_kb(pid, *fields) the sum of named lines of /proc/<pid>/smaps_rollup (Pss, Private_*)
    private_kb(pid)       the pages only that process holds (what forking it cost)
    peak_rss_kb(), rss_bytes()  this process's peak and current resident memory
    process_tree(pid), census(pid), cpu_ns(pid)
                          a process and its descendants: their pids; processes, threads,
                          descriptors and PSS (a Census); CPU time of all their threads

Linux answers from /proc (and the sock_diag netlink socket ``ss`` uses); elsewhere each reader
says "unknown" the way its docstring names (None, a default, or OSError for the caller to catch).
Only the standard library, and only ``os`` and ``resource`` on import: the fresh-interpreter
programs import this module, and each import there is start-up time (``socket`` is imported by
the one reader that needs it). Nothing prints, nothing starts a thread.
"""

from __future__ import annotations

import os
import resource
from typing import NamedTuple

__all__ = [
    "HAVE_PROC", "SOMAXCONN", "Census", "census", "cpu_ns", "fd_hard_limit", "fd_numbers", "listen_queue",
    "listening_here", "mem_available", "open_fds", "peak_rss_kb", "private_kb", "process_tree", "raise_fd_limit",
    "rss_bytes", "smaps_kb", "somaxconn", "status_kb",
]

HAVE_PROC = os.path.exists("/proc/self/smaps_rollup")  # the census reads it (and status, fd, task)
SOMAXCONN = "/proc/sys/net/core/somaxconn"
UNLIMITED_FDS = 1 << 20     # what "no hard limit" is taken to mean (Linux's default nr_open), and the most
                            # raise_fd_limit asks for
OPEN_MAX = 10_240           # macOS's cap on a soft descriptor limit (sys/syslimits.h), one value tried
_NETLINK_SOCK_DIAG, _SOCK_DIAG_BY_FAMILY, _DUMP_REQUEST = 4, 20, 0x301
_NLMSG_ERROR, _NLMSG_DONE, _TCP_LISTEN = 2, 3, 10


# --- descriptors ----------------------------------------------------------------------------


def raise_fd_limit() -> tuple[int, int]:
    """Raise this process's soft descriptor limit toward the hard one; return (soft, hard) after that.

    The target is the hard limit, capped at ``UNLIMITED_FDS`` (1 << 20, also the target where the hard
    limit is "unlimited", as on macOS). Where the system refuses it (macOS keeps the soft limit at or
    below its own maximum, ``OPEN_MAX`` or ``kern.maxfilesperproc``; Linux at or below ``nr_open``), it
    tries halves of it, and macOS's ``OPEN_MAX`` (10,240), and keeps the first value accepted. If all are
    refused, the limits stay as they were. Never raises.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_FDS if hard == resource.RLIM_INFINITY else min(hard, UNLIMITED_FDS)
    for value in sorted({target >> halving for halving in range(8)} | {OPEN_MAX}, reverse=True):
        if value <= soft or value > target:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (value, hard))
        except (ValueError, OSError):
            continue
        break
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def fd_hard_limit() -> int:
    """The hard descriptor limit (what a fresh interpreter may raise its soft one to), 1 << 20 if unlimited."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard if hard != resource.RLIM_INFINITY else UNLIMITED_FDS


def fd_numbers(pid: int | str = "self") -> list[int]:
    """The descriptor numbers process ``pid`` has open (Linux /proc; OSError elsewhere or once it ended)."""
    return [int(name) for name in os.listdir(f"/proc/{pid}/fd")]


def open_fds(unknown: int = 64) -> int:
    """How many descriptors this process has open (Linux /proc), or ``unknown`` where /proc cannot say."""
    try:
        return len(fd_numbers())
    except OSError:
        return unknown


# --- memory ---------------------------------------------------------------------------------


def mem_available() -> int | None:
    """The memory the kernel could give out without swapping, in bytes (/proc/meminfo's MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def status_kb(field: str, pid: int | str = "self") -> int:
    """The number on ``field``'s line of /proc/<pid>/status (in kB for Vm* fields), 0 if there is no such line.

    OSError where /proc has no such process (not Linux, or it has ended).
    """
    with open(f"/proc/{pid}/status", encoding="ascii") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def smaps_kb(pid: int | str, *fields: str) -> int:
    """The sum, in kB, of ``fields``' lines of /proc/<pid>/smaps_rollup (``"Pss"``, ``"Private_Dirty"``...).

    OSError where there is no such file (not Linux, an old kernel, or the process has ended).
    """
    total = 0
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as file:
        for line in file:
            if line.split(":", 1)[0] in fields:
                total += int(line.split()[1])
    return total


def private_kb(pid: int | str) -> int:
    """Pages only process ``pid`` holds, in kB (what forking it really cost), from smaps_rollup; 0 if unknown."""
    try:
        return smaps_kb(pid, "Private_Clean", "Private_Dirty")
    except OSError:
        return 0


def peak_rss_kb() -> int:
    """This process's peak resident memory in kB (VmHWM: ru_maxrss would include the parent's, from before exec)."""
    try:
        peak = status_kb("VmHWM")
    except (OSError, ValueError):
        peak = 0
    return peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_bytes() -> int:
    """This process's resident memory in bytes (Linux /proc; elsewhere 0: the figure is not shown)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


# --- a process and its descendants ---------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc; just ``[pid]`` where /proc cannot say)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as file:
                    todo.extend(int(c) for c in file.read().split())
        except OSError:
            pass
    return found


class Census(NamedTuple):
    """A process and its descendants, counted: processes, threads, open descriptors, PSS in kB."""

    processes: int
    threads: int
    fds: int
    pss_kb: int


def census(pid: int) -> Census:
    """Count ``pid`` and its descendants (a process that ends while counted is left out)."""
    processes = threads = fds = pss = 0
    for p in process_tree(pid):
        try:
            threads += status_kb("Threads", p)
            fds += len(fd_numbers(p))
            pss += smaps_kb(p, "Pss")
            processes += 1
        except (OSError, ValueError):
            pass  # it just ended
    return Census(processes, threads, fds, pss)


def cpu_ns(pid: int) -> int:
    """CPU time (ns) used so far by every thread of ``pid`` and its descendants (Linux schedstat)."""
    total = 0
    for p in process_tree(pid):
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/schedstat", encoding="ascii") as file:
                    total += int(file.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # it just ended
    return total


# --- listening sockets ------------------------------------------------------------------------


def somaxconn(path: str = SOMAXCONN) -> int | None:
    """The kernel's cap on any listen backlog (at least 1), read from ``path``; None where it cannot be read."""
    try:
        with open(path, encoding="ascii") as file:
            return max(1, int(file.read().strip()))
    except (OSError, ValueError):
        return None


def listening_here(port: int) -> bool:
    """Whether a socket of this process listens on ``port`` (Linux /proc; True if unknown: careful)."""
    try:
        inodes = set()
        for name in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table, encoding="ascii") as file:
                    rows = file.read().splitlines()[1:]
            except FileNotFoundError:
                continue
            for row in rows:
                cells = row.split()
                if cells[3] == "0A" and int(cells[1].rsplit(":", 1)[1], 16) == port and cells[9] in inodes:
                    return True
        return False
    except (OSError, ValueError, IndexError):
        return True


def listen_queue(port: int) -> tuple[int, int] | None:
    """(connections queued, listen backlog) of the TCP listener on ``port`` on this machine, or None.

    Asks the kernel (Linux sock_diag netlink, what ``ss -lt`` shows as Recv-Q and Send-Q), so a
    swarm connects no faster than the server accepts: a burst past a full accept queue costs SYN
    retransmits (1 s, then 3 s) and, with syncookies, connections reset later. None when unknown.
    """
    import socket  # only here: the fresh-interpreter programs that import this module need no socket
    import struct

    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as link:
            link.settimeout(1.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN) + bytes(48)
                link.send(struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _DUMP_REQUEST, 1, 0)
                          + request)
                while True:
                    data, offset = link.recv(65536), 0
                    while offset + 16 <= len(data):
                        length, kind = struct.unpack_from("=IH", data, offset)
                        if kind in (_NLMSG_DONE, _NLMSG_ERROR) or length < 16:
                            break
                        if struct.unpack_from("!H", data, offset + 20)[0] == port:  # the socket's source port
                            queued, backlog = struct.unpack_from("=II", data, offset + 72)
                            return queued, backlog
                        offset += (length + 3) & ~3
                    else:
                        continue
                    break
    except (OSError, AttributeError, struct.error):  # not Linux, or no netlink here
        pass
    return None
