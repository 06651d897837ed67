"""The clients' side of ``swarm(..., where="process")``, run as ``python -m helpers._swarm_child``.

Who calls it: only :func:`helpers.swarm.swarm`, in a fresh interpreter of its own process group.
It reads the plan (address, payloads, options) as JSON on stdin, raises its descriptor limit, runs
every client in its main thread, and writes the counts as JSON on stdout; nothing else is printed.
"""

from __future__ import annotations

from helpers.swarm import _child_main

__all__: list[str] = []

if __name__ == "__main__":
    import signal  # Python's own Ctrl-C even if the parent ignored SIGINT (SIG_IGN survives exec)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _child_main()
