"""The classroom's parts that need no hub (classroom/run.py): names, the link, the instructor's view.

The hub itself, four learners and their isolation: classroom/test_classroom.py
(``python3 course.py classroom --test``, root).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from classroom import run
from helpers import workspace

ROOT = Path(__file__).resolve().parent.parent


def test_learner_names_are_numbered_and_bounded():
    assert run.learner_names(3) == ["learner01", "learner02", "learner03"]
    assert run.learner_names(120, "s")[-1] == "s120"
    with pytest.raises(ValueError, match="1 to 999"):
        run.learner_names(0)


def test_the_link_pulls_the_course_and_opens_the_learners_copy():
    link = run.pull_link("https://hub.example.org/", "https://github.com/switchyard-course/switchyard", "main")
    base, query = link.split("?", 1)
    assert base == "https://hub.example.org/hub/user-redirect/git-pull"
    fields = dict(urllib.parse.parse_qsl(query))
    assert fields == {"repo": "https://github.com/switchyard-course/switchyard", "branch": "main",
                      "targetpath": "switchyard", "urlpath": "switchyard/open?chapter=00_start_here.ipynb"}


def test_the_link_command_prints_a_link_for_another_hub(capsys):
    assert run.main(["link", "--hub", "https://hub.example.org", "--repo", "https://example.org/c.git"]) == 0
    assert capsys.readouterr().out.startswith("https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A")


def make_workspace(folder: Path, solved: list[str], tried: list[str] = (), hints: int = 0) -> Path:
    workspace.sync(folder)
    for number in solved:
        workspace.record(number, "solved", workspace=folder)
    for number in tried:
        workspace.record(number, "wrong", hints=hints, workspace=folder)
    return folder


def test_the_instructors_view_reads_each_learners_progress(tmp_path):
    workspaces = {
        "learner01": make_workspace(tmp_path / "a", solved=["00.1", "03.2"]),
        "learner02": make_workspace(tmp_path / "b", solved=[], tried=["00.2"], hints=2),
        "learner03": tmp_path / "never-followed-the-link",
    }
    table = run.progress_rows(workspaces, ROOT / "notebooks")
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    total = sum(len(n) for n in workspace.exercises_by_chapter().values())
    assert re.fullmatch(rf"learner01\s+2/{total}\s+2\s+0\s+00\.1 03\.2", rows["learner01"]), rows["learner01"]
    assert re.fullmatch(rf"learner02\s+0/{total}\s+1\s+2\s+-", rows["learner02"]), rows["learner02"]
    assert "has not followed the link" in rows["learner03"]
    # a different record prints a different table
    workspace.record("00.2", "solved", workspace=workspaces["learner02"])
    again = run.progress_rows(workspaces, ROOT / "notebooks")
    assert re.search(rf"learner02\s+1/{total}\s+1\s+2\s+00\.2", again), again


def test_reachable_by_all_follows_every_folder_above(tmp_path):
    assert run.reachable_by_all(Path("/bin/sh"))
    inner = tmp_path / "private" / "tool"
    inner.parent.mkdir()
    inner.write_text("#!/bin/sh\n")
    inner.chmod(0o755)
    inner.parent.chmod(0o700)  # as pyenv under a 0700 /root: the file is fine, a folder above is not
    try:
        assert not run.reachable_by_all(inner)
    finally:
        inner.parent.chmod(0o755)


def test_the_server_joins_its_cgroups_before_it_becomes_the_learner(tmp_path):
    """classroom.spawner.limited writes the child's pid into each group's cgroup.procs, then runs preexec."""
    spawner = pytest.importorskip("classroom.spawner")  # needs JupyterHub (requirements-classroom.txt)
    groups = [tmp_path / "cpu", tmp_path / "memory"]
    for folder in groups:
        folder.mkdir()
    done = subprocess.Popen([sys.executable, "-c", "pass"], preexec_fn=spawner.limited(lambda: None, groups))
    done.wait(timeout=60)
    assert [(folder / "cgroup.procs").read_text() for folder in groups] == [str(done.pid)] * 2


@pytest.mark.parametrize("layout", ["v1", "v2", "none"])
def test_the_limits_become_cgroup_limits(tmp_path, monkeypatch, layout):
    """classroom.spawner.make_groups writes cpu_limit and mem_limit into the learner's cgroups, or says it cannot."""
    spawner = pytest.importorskip("classroom.spawner")
    monkeypatch.setattr(spawner, "CGROUPS", tmp_path)
    if layout == "v1":
        for controller in ("cpu", "memory"):
            (tmp_path / controller).mkdir()
            (tmp_path / controller / "cgroup.procs").write_text("")
    elif layout == "v2":
        (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    groups, missing = spawner.make_groups("learner01", 0.5, 512 * 1024 ** 2)
    if layout == "none":
        assert groups == [] and missing == ["cpu", "memory"]
        return
    assert missing == []
    if layout == "v1":
        cpu, memory = groups
        assert cpu == tmp_path / "cpu" / "switchyard-classroom" / "learner01"
        assert (cpu / "cpu.cfs_quota_us").read_text() == "50000"
        assert (memory / "memory.limit_in_bytes").read_text() == str(512 * 1024 ** 2)
    else:
        (leaf,) = groups
        assert leaf == tmp_path / "switchyard-classroom" / "learner01"
        assert (leaf / "cpu.max").read_text() == "50000 100000"
        assert (leaf / "memory.max").read_text() == str(512 * 1024 ** 2)
        assert (leaf.parent / "cgroup.subtree_control").read_text() == "+cpu +memory"
    for leaf in groups:  # a real cgroupfs has no files to delete
        for child in [*leaf.iterdir(), *leaf.parent.glob("cgroup.*")]:
            child.unlink()
    spawner.remove_groups("learner01")
    assert not any(leaf.parent.exists() for leaf in groups)


def test_start_says_it_needs_root(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit, match="needs root.*system user per learner"):
        run.main(["--learners", "2"])


def test_the_hub_configuration_keeps_to_loopback_and_bounds_each_learner():
    text = (ROOT / "classroom" / "jupyterhub_config.py").read_text()
    assert 'c.JupyterHub.ip = "127.0.0.1"' in text and 'c.JupyterHub.hub_ip = "127.0.0.1"' in text
    assert "c.Spawner.mem_limit" in text and "c.Spawner.cpu_limit" in text
    assert "CourseSpawner" in text and "c.JupyterHub.authenticator_class = LearnerPasswordAuthenticator" in text
    assert "DummyAuthenticator" not in text and "SharedPassword" not in text  # no password shared by learners
    assert 'authenticator_class = "pam"' in text  # the real one, shown beside the demo
    values = (ROOT / "classroom" / "zero-to-jupyterhub" / "values.yaml").read_text()
    for resource in ("memory", "cpu"):
        assert re.search(rf"\n  {resource}:\n(    \w+: .*\n)*    limit: ", values), resource


def test_the_classroom_state_is_ignored_by_git():
    assert subprocess.run(["git", "check-ignore", "-q", ".classroom/hub.log"], cwd=ROOT).returncode == 0


def test_the_learner_servers_config_loads_the_course_contents_manager_and_the_open_handler():
    config = json.loads((ROOT / "classroom" / "jupyter" / "jupyter_server_config.json").read_text())
    assert config["ServerApp"]["jpserver_extensions"] == {"classroom.extension": True}
    assert config["ServerApp"]["contents_manager_class"] == "helpers._lab.CourseContentsManager"


def test_each_learner_gets_a_password_of_their_own_kept_across_restarts(tmp_path):
    path = tmp_path / "hub" / run.PASSWORDS
    path.parent.mkdir(mode=0o700)
    first = run.learner_passwords(["learner01", "learner02", "learner03"], path)
    assert len(set(first.values())) == 3 and all(len(p) >= 12 for p in first.values())
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == first
    # a restart with a learner more and one less: the others keep theirs, the new one gets a new one
    again = run.learner_passwords(["learner02", "learner03", "learner04"], path)
    assert again["learner02"] == first["learner02"] and again["learner03"] == first["learner03"]
    assert again["learner04"] not in first.values() and "learner01" not in again
    assert path.stat().st_mode & 0o777 == 0o600 and not list(path.parent.glob("*.new"))
    # a damaged file: new passwords for all, no traceback
    path.write_text("{not json")
    assert set(run.learner_passwords(["learner02"], path)) == {"learner02"}


def test_the_instructor_sees_one_line_per_account():
    lines = run.login_lines({"learner01": "a" * 16, "learner102": "b" * 16}).splitlines()
    assert [line.split() for line in lines] == [["learner01", "a" * 16], ["learner102", "b" * 16]]


def hub_config(tmp_path, monkeypatch) -> dict:
    """Execute classroom/jupyterhub_config.py as JupyterHub does (get_config), with the state folder in tmp_path."""
    pytest.importorskip("jupyterhub")
    from traitlets.config import Config
    monkeypatch.setenv("SWITCHYARD_CLASSROOM_STATE", str(tmp_path))
    monkeypatch.setenv("SWITCHYARD_CLASSROOM_LEARNERS", "learner01,learner02")
    monkeypatch.setattr(sys, "path", list(sys.path))
    config = Config()
    path = ROOT / "classroom" / "jupyterhub_config.py"
    namespace = {"get_config": lambda: config, "__file__": str(path), "__name__": "jupyterhub_config"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return {"config": config, **namespace}


@pytest.mark.parametrize(("name", "password", "logs_in"), [
    ("learner01", "A", True),
    ("learner02", "B", True),
    ("learner02", "A", False),     # A's password with B's name
    ("learner01", "B", False),
    ("learner01", "", False),
    ("nobody", "A", False),        # a name without a password
    ("Learner01", "A", True),      # names are normalised (lower case) as JupyterHub does
])
def test_the_demo_login_takes_each_learners_own_password_only(tmp_path, monkeypatch, name, password, logs_in):
    hub = hub_config(tmp_path, monkeypatch)
    assert hub["config"].JupyterHub.authenticator_class is hub["LearnerPasswordAuthenticator"]
    (tmp_path / "hub").mkdir()
    passwords = run.learner_passwords(["learner01", "learner02"], tmp_path / "hub" / run.PASSWORDS)
    assert hub["config"].LearnerPasswordAuthenticator.password_file == str(tmp_path / "hub" / run.PASSWORDS)
    given = {"A": passwords["learner01"], "B": passwords["learner02"], "": ""}[password]
    login = hub["LearnerPasswordAuthenticator"](config=hub["config"])
    assert login.allowed_users == {"learner01", "learner02"}
    got = asyncio.run(login.get_authenticated_user(None, {"username": name, "password": given}))
    assert (got["name"] if got else None) == (name.lower() if logs_in else None)


def test_the_demo_login_refuses_everyone_without_its_password_file(tmp_path, monkeypatch):
    hub = hub_config(tmp_path, monkeypatch)
    login = hub["LearnerPasswordAuthenticator"](config=hub["config"])
    assert asyncio.run(login.authenticate(None, {"username": "learner01", "password": ""})) is None


def test_a_proxy_the_hub_left_running_is_stopped(tmp_path):
    """run.stop_leftover_proxy: the proxy lives in a session of its own, so stopping the hub's may leave it."""
    # Each child says "ready" once it runs: until then (a busy machine may take a while) /proc still
    # shows the parent's command line, which names no proxy.
    ready = "import time; print('ready', flush=True); time.sleep(120)"
    proxy = subprocess.Popen([sys.executable, "-c", ready, "configurable-http-proxy"], stdout=subprocess.PIPE,
                             text=True)
    other = subprocess.Popen([sys.executable, "-c", ready], stdout=subprocess.PIPE, text=True)
    try:
        assert proxy.stdout is not None and other.stdout is not None
        assert proxy.stdout.readline() == other.stdout.readline() == "ready\n"
        (tmp_path / "proxy.pid").write_text(f"{proxy.pid}\n")
        (tmp_path / "other.pid").write_text(f"{other.pid}\n")
        assert run.proxy_pid(tmp_path / "proxy.pid") == proxy.pid
        assert run.proxy_pid(tmp_path / "other.pid") is None      # a reused number: not the proxy, left alone
        assert run.proxy_pid(tmp_path / "missing.pid") is None
        assert run.stop_leftover_proxy(None) is False
        assert run.stop_leftover_proxy(proxy.pid, wait=0.2) is True
        assert proxy.wait(timeout=10) == -15                       # SIGTERM was enough
        assert not run.running_proxy(proxy.pid) and other.poll() is None
        assert run.stop_leftover_proxy(proxy.pid, wait=0.2) is False  # gone: nothing to do
    finally:
        for process in (proxy, other):
            process.kill()
            process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


def test_learners_import_helpers_from_the_commit_they_pulled_never_the_working_tree(tmp_path, monkeypatch):
    """run.course_clone exports HEAD's files to state/course; the hub's config puts ~/switchyard, then those, first."""
    repo, branch = run.course_clone(tmp_path)
    assert repo == (tmp_path / "course.git").as_uri()
    committed = subprocess.run(["git", "show", "HEAD:helpers/__init__.py"], cwd=ROOT, check=True,
                               capture_output=True, text=True).stdout
    assert (tmp_path / "course" / "helpers" / "__init__.py").read_text() == committed
    assert (tmp_path / "course" / "classroom" / "jupyter" / "jupyter_server_config.json").is_file()
    assert (tmp_path / "course").stat().st_mode & 0o777 == 0o755
    hub = hub_config(tmp_path, monkeypatch)

    class Spawner:  # what learners_pythonpath reads of JupyterHub's spawner
        class user:
            name = "root"

    home = Path(run.account_home("root"))
    assert hub["learners_pythonpath"](Spawner) == f"{home / 'switchyard'}{os.pathsep}{tmp_path / 'course'}"
    environment = hub["config"].Spawner.environment
    assert environment["PYTHONPATH"] is hub["learners_pythonpath"]
    assert environment["JUPYTER_CONFIG_PATH"] == str(tmp_path / "course" / "classroom" / "jupyter")
    assert str(ROOT) not in hub["learners_pythonpath"](Spawner)


def test_the_cluster_limits_are_the_one_machine_limits():
    """values.yaml's per-learner limits are jupyterhub_config.py's defaults (and course.py classroom's)."""
    values = (ROOT / "classroom" / "zero-to-jupyterhub" / "values.yaml").read_text()
    config = (ROOT / "classroom" / "jupyterhub_config.py").read_text()
    memory = re.search(r"\n  memory:\n    guarantee: \S+\n    limit: (\S+)\n", values).group(1)
    cpu = re.search(r"\n  cpu:\n    guarantee: \S+\n    limit: (\S+)\n", values).group(1)
    assert memory == re.search(r'"SWITCHYARD_CLASSROOM_MEM_LIMIT", "([^"]+)"', config).group(1) == "1536M"
    assert float(cpu) == float(re.search(r'"SWITCHYARD_CLASSROOM_CPU_LIMIT", "([^"]+)"', config).group(1))
    assert "1536M" in (ROOT / "classroom" / "run.py").read_text()
    assert "PYTHONPATH: /home/jovyan/switchyard:/srv/switchyard" in values  # helpers of the pulled commit
