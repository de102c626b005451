"""The worker process's Container: built once per process, on first use, never at import.

``kassa worker`` installs the one it built; a job that runs in a process without one
(a forked child, a test's burst worker) builds its own from the environment. The pid
check keeps a forked child from using its parent's sockets.
"""

from __future__ import annotations

import os
import threading

from kassa.bootstrap import Container, bootstrap

_lock = threading.Lock()
_current: tuple[int, Container] | None = None


def install(container: Container) -> None:
    global _current
    with _lock:
        _current = (os.getpid(), container)


def container() -> Container:
    global _current
    with _lock:
        if _current is None or _current[0] != os.getpid():
            _current = (os.getpid(), bootstrap())
        return _current[1]
