"""The programs the helpers run in child interpreters, as ``python -m helpers.children.NAME``.

Not importable lessons: each module here is a program with a ``__main__`` block, started in a
fresh interpreter of its own process group by :class:`helpers._child.Child` (or ``start``), which
also stops it. Notebooks never import them; chapter 11 asks learners to read ``showdown.py``.

    echo_server  one echo server of a model (threads, forking, select, asyncio, ...): prints its
                 port, serves until EOF on stdin (helpers.echobench, helpers.models)
    echo_load    the open-loop load generator of helpers.echobench: JSON commands in, JSON out
    showdown     chapter 11's sleepers and round trips of every model (helpers.showdown)
    swarm        the clients of ``swarm(..., where="process")``: JSON plan in, JSON result out

Every program calls :func:`restore_ctrl_c` first.
"""

from __future__ import annotations

import signal

__all__ = ["restore_ctrl_c"]


def restore_ctrl_c() -> None:
    """Python's own Ctrl-C (SIGINT raises KeyboardInterrupt), even if the parent ignored SIGINT.

    A parent that ignored it (nohup, a job started in the background, some CI runners) passes
    SIG_IGN on through exec, and Python then installs no KeyboardInterrupt handler of its own.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
