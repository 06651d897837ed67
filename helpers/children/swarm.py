"""The clients' side of ``swarm(..., where="process")``, run as ``python -m helpers.children.swarm``.

Who calls it: only :func:`helpers.swarm.swarm`, in a fresh interpreter of its own process group.
It reads the plan (address, payloads, options) as JSON on stdin, raises its descriptor limit, runs
every client in its main thread, and writes the counts as JSON on stdout; nothing else is printed.
"""

from __future__ import annotations

from helpers.children import restore_ctrl_c
from helpers.swarm import child_main

__all__: list[str] = []

if __name__ == "__main__":
    restore_ctrl_c()
    child_main()
