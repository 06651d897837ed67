"""The classroom's spawner: JupyterHub's LocalProcessSpawner, with the limits enforced.

LocalProcessSpawner starts each learner's server as that learner's system user, and
ignores ``mem_limit`` and ``cpu_limit``. This one, before the server starts:

- puts it in a CPU cgroup of its own, ``switchyard-classroom/<learner>``, whose quota is
  ``cpu_limit`` CPUs (cgroup v1's ``cpu.cfs_quota_us``, or v2's ``cpu.max``), when this
  machine lets root write cgroups; the kernels the server starts are in it too. Where it
  cannot (no writable cgroup hierarchy), it says so in the hub's log and starts the server
  unlimited;
- sets ``RLIMIT_AS`` (address space) to ``mem_limit``; the kernels inherit it, so an
  allocation past it raises ``MemoryError`` in that kernel and nothing else suffers. It is
  per process, not per learner: the server and each kernel have the limit each.

Verified here (cgroup v1, root in a container): classroom/test_classroom.py. The v2 branch
follows the kernel's documented interface and was not run here.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner

CGROUPS = Path("/sys/fs/cgroup")
GROUP = "switchyard-classroom"
PERIOD = 100_000  # microseconds: the quota is this times cpu_limit


def cpu_group(name: str) -> Path | None:
    """Where learner ``name``'s CPU cgroup goes on this machine (v2, else v1's cpu), or None."""
    if (CGROUPS / "cgroup.controllers").exists():
        return CGROUPS / GROUP / name
    if (CGROUPS / "cpu" / "cpu.cfs_quota_us").exists():
        return CGROUPS / "cpu" / GROUP / name
    return None


def make_cpu_group(name: str, cpus: float) -> Path | None:
    """Create learner ``name``'s cgroup with a quota of ``cpus`` CPUs; None where cgroups cannot be written."""
    group = cpu_group(name)
    if group is None:
        return None
    quota = max(1000, int(cpus * PERIOD))
    try:
        if group.parent.parent == CGROUPS and (CGROUPS / "cgroup.controllers").exists():  # v2
            if "cpu" not in (CGROUPS / "cgroup.controllers").read_text().split():
                return None
            (CGROUPS / "cgroup.subtree_control").write_text("+cpu")
            group.parent.mkdir(exist_ok=True)
            (group.parent / "cgroup.subtree_control").write_text("+cpu")
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {PERIOD}")
        else:  # v1
            group.mkdir(parents=True, exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(PERIOD))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
    except OSError:
        return None
    return group


def remove_cpu_group(name: str) -> None:
    """Remove learner ``name``'s cgroup (once its processes are gone), and the classroom's when empty."""
    group = cpu_group(name)
    for folder in (group, group.parent) if group else ():
        try:
            folder.rmdir()
        except OSError:
            pass


def limited(preexec, limit: int | None, group: Path | None = None):
    """Join ``group`` (as root), then ``preexec`` (which switches to the learner), then ``RLIMIT_AS = limit``."""
    def run() -> None:
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))
        preexec()
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return run


class CourseSpawner(LocalProcessSpawner):
    group: Path | None = None

    async def start(self):
        self.group = None
        if self.cpu_limit:
            self.group = make_cpu_group(self.user.name, self.cpu_limit)
            if self.group is None:
                self.log.warning("switchyard: no writable cgroup here; %s's server runs without its CPU limit",
                                 self.user.name)
        return await super().start()

    def make_preexec_fn(self, name):
        return limited(super().make_preexec_fn(name), self.mem_limit, self.group)

    async def stop(self, now=False):
        await super().stop(now=now)
        remove_cpu_group(self.user.name)
