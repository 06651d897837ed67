"""The classroom's spawner: JupyterHub's LocalProcessSpawner, with the memory limit enforced.

LocalProcessSpawner starts each learner's server as that learner's system user, and
ignores ``mem_limit`` and ``cpu_limit``. This one sets ``RLIMIT_AS`` (address space) to
``mem_limit`` in the server before it starts; the kernels it starts inherit it, so an
allocation past it raises ``MemoryError`` in the learner's kernel and nothing else suffers.
It is per process, not per learner: a learner's server and each kernel have the limit each.
CPU is not limited here (a cgroup or systemd's spawner would do it; Kubernetes does).
"""

from __future__ import annotations

import resource

from jupyterhub.spawner import LocalProcessSpawner


def limited(preexec, limit: int | None):
    """``preexec`` (which switches to the learner), then ``RLIMIT_AS = limit`` when one is set."""
    def run() -> None:
        preexec()
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return run


class CourseSpawner(LocalProcessSpawner):
    def make_preexec_fn(self, name):
        return limited(super().make_preexec_fn(name), self.mem_limit)
