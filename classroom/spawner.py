"""The classroom's spawner: JupyterHub's LocalProcessSpawner, with each learner's limits enforced.

LocalProcessSpawner starts each learner's server as that learner's system user, and
ignores ``mem_limit`` and ``cpu_limit``. This one, before the server starts, puts it in
cgroups of its own, ``switchyard-classroom/<learner>``, when this machine lets root write
cgroups (v1's ``cpu`` and ``memory`` controllers, or v2's unified hierarchy); the kernels the
server starts, and their children, are in them too:

- CPU: a quota of ``cpu_limit`` CPUs (v1 ``cpu.cfs_quota_us``, v2 ``cpu.max``);
- memory: ``mem_limit`` bytes of resident memory for the learner's processes together (v1
  ``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes``, v2 ``memory.max`` and
  ``memory.swap.max = 0``). Past it, the kernel's OOM killer ends the learner's largest
  process (a kernel: JupyterLab says it died and restarts it); nobody else's suffers.

Not ``RLIMIT_AS`` (address space): a thread reserves its whole stack (8 MB) up front, and
chapter 11 starts 2,000 threads, 16 GB of address space for a few MB resident; an
address-space limit would break the course's own chapters.

Where cgroups cannot be written, the hub's log says so and the server runs without limits.
Verified here (cgroup v1, root in a container): classroom/test_classroom.py. The v2 branch
follows the kernel's documented interface and was not run here.
"""

from __future__ import annotations

import os
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner

CGROUPS = Path("/sys/fs/cgroup")
GROUP = "switchyard-classroom"
PERIOD = 100_000  # microseconds: the CPU quota is this times cpu_limit


def unified() -> bool:
    return (CGROUPS / "cgroup.controllers").exists()


def group(controller: str, name: str) -> Path | None:
    """Where learner ``name``'s cgroup for ``controller`` (cpu, memory) goes on this machine, or None."""
    if unified():
        return CGROUPS / GROUP / name
    if (CGROUPS / controller / "cgroup.procs").exists():
        return CGROUPS / controller / GROUP / name
    return None


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def make_groups(name: str, cpus: float | None, memory: int | None) -> tuple[list[Path], list[str]]:
    """Learner ``name``'s cgroups with the limits written: (the folders to join, the limits not enforced)."""
    wanted = {"cpu": cpus, "memory": memory}
    wanted = {controller: limit for controller, limit in wanted.items() if limit}
    joined: list[Path] = []
    missing: list[str] = []
    if unified():
        leaf = CGROUPS / GROUP / name
        try:
            available = (CGROUPS / "cgroup.controllers").read_text().split()
            enable = " ".join(f"+{c}" for c in wanted if c in available)
            missing = [c for c in wanted if c not in available]
            if enable:
                _write(CGROUPS / "cgroup.subtree_control", enable)
                leaf.parent.mkdir(exist_ok=True)
                _write(leaf.parent / "cgroup.subtree_control", enable)
                leaf.mkdir(exist_ok=True)
                if "cpu" in wanted and "cpu" in available:
                    _write(leaf / "cpu.max", f"{max(1000, int(cpus * PERIOD))} {PERIOD}")
                if "memory" in wanted and "memory" in available:
                    _write(leaf / "memory.max", str(memory))
                    if (leaf / "memory.swap.max").exists():
                        _write(leaf / "memory.swap.max", "0")
                joined.append(leaf)
        except OSError:
            return [], list(wanted)
        return joined, missing
    for controller, limit in wanted.items():
        leaf = group(controller, name)
        try:
            if leaf is None:
                raise OSError(f"no {controller} controller")
            leaf.mkdir(parents=True, exist_ok=True)
            if controller == "cpu":
                _write(leaf / "cpu.cfs_period_us", str(PERIOD))
                _write(leaf / "cpu.cfs_quota_us", str(max(1000, int(limit * PERIOD))))
            else:
                _write(leaf / "memory.limit_in_bytes", str(limit))
                if (leaf / "memory.memsw.limit_in_bytes").exists():  # no swapping past the limit
                    _write(leaf / "memory.memsw.limit_in_bytes", str(limit))
            joined.append(leaf)
        except OSError:
            missing.append(controller)
    return joined, missing


def remove_groups(name: str) -> None:
    """Remove learner ``name``'s cgroups (once their processes are gone), and the classroom's when empty."""
    for controller in ("cpu", "memory"):
        leaf = group(controller, name)
        for folder in (leaf, leaf.parent) if leaf else ():
            try:
                folder.rmdir()
            except OSError:
                pass


def limited(preexec, groups: list[Path]):
    """Join ``groups`` (as root, before anything else runs), then ``preexec`` (which becomes the learner)."""
    def run() -> None:
        for folder in groups:
            (folder / "cgroup.procs").write_text(str(os.getpid()))
        preexec()
    return run


class CourseSpawner(LocalProcessSpawner):
    groups: list[Path] = []

    async def start(self):
        self.groups, missing = make_groups(self.user.name, self.cpu_limit, self.mem_limit)
        if missing:
            self.log.warning("switchyard: cannot write cgroups for %s here; %s's server runs without it",
                             " and ".join(f"{c} limit" for c in missing), self.user.name)
        return await super().start()

    def make_preexec_fn(self, name):
        return limited(super().make_preexec_fn(name), self.groups)

    async def stop(self, now=False):
        await super().stop(now=now)
        remove_groups(self.user.name)
