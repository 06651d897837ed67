"""A spare descriptor, so that a server out of descriptors neither spins nor dies: libuv's way (Node.js).

Who calls it: ``helpers.homeloop.sock_accept`` (chapter 06's loop has no timers to back off with).

Out of descriptors, ``accept()`` fails (EMFILE) and the client stays in the listener's queue, so
the listener stays readable: a loop would spin on it, and a task that let the error through would
die, serving nobody afterwards. Instead the spare descriptor (``/dev/null``, held from the first
``keep_spare()``) is freed, the waiting client accepted and closed at once (it sees its connection
end), and the spare taken again. ``accept_refused`` counts those clients, by error. Nothing prints.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections import Counter

__all__ = ["accept_refused", "keep_spare", "refuse_one"]

accept_refused: Counter[str] = Counter()  # clients closed at once for want of descriptors, by error
_spare: list[int] = []  # the one spare descriptor, once keep_spare() has run


def keep_spare() -> bool:
    """Hold the spare descriptor if it is not held; False if none can be had now."""
    if not _spare:
        try:
            _spare.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            return False
    return True


def refuse_one(listener: socket.socket, error: OSError) -> None:
    """Out of descriptors: accept the waiting client with the spare one, close it at once, count it."""
    code = error.errno
    accept_refused[str(code) if code is None else errno.errorcode.get(code, str(code))] += 1
    if not _spare:  # no spare to give up (another thread took it): at least do not spin at full speed
        time.sleep(0.05)
        return
    os.close(_spare.pop())
    try:
        client, _ = listener.accept()
        client.close()
    except OSError:
        pass
    keep_spare()
