"""Binder's configuration, proven offline.

``jupyter-repo2docker --no-build`` prints the Dockerfile Binder would build from this
repository, without Docker or network. The tests read it as BinderHub would run it
(a non-root user, uid 1000), then run ``binder/postBuild`` for real in a throwaway
environment to prove it installs ``helpers``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import course
from tools.chapters import NOTEBOOKS

ROOT = NOTEBOOKS.parent
REPO2DOCKER = Path(sys.executable).with_name("jupyter-repo2docker")


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory) -> tuple[str, str]:
    result = subprocess.run(
        [REPO2DOCKER, "--no-build", "--user-id", "1000", "--user-name", "jovyan", ROOT],
        capture_output=True, text=True, timeout=120, cwd=tmp_path_factory.mktemp("r2d"))
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def line_of(text: str, pattern: str) -> int:
    lines = text.splitlines()
    found = [number for number, line in enumerate(lines) if re.search(pattern, line)]
    assert found, f"no line matching {pattern!r} in the Dockerfile"
    return found[0]


def test_binder_builds_python_3_11_from_binder_environment_yml(dockerfile):
    text, log = dockerfile
    assert "Building conda environment for python=3.11" in log
    assert re.search(r'env update -p \$\{NB_PYTHON_PREFIX\} --file "binder/environment.yml"', text)
    # The pins Binder installs are the course's own (tests/test_environment.py proves
    # binder/environment.yml is generated from requirements.txt).
    pinned = (ROOT / "binder" / "environment.yml").read_text()
    for pin in ("jupyterlab==4.6.6", "ipywidgets==8.1.9", "gevent==26.9.0", "nbval==0.11.0"):
        assert pin in pinned


def test_binder_runs_postbuild_after_the_environment_and_the_repository(dockerfile):
    text, _ = dockerfile
    environment = line_of(text, r'--file "binder/environment.yml"')
    repository = line_of(text, r"^COPY --chown=1000:1000 src/ \$\{REPO_DIR\}/$")
    post_build = line_of(text, r"^RUN \./binder/postBuild$")
    assert environment < repository < post_build
    users = [line.split()[1] for line in text.splitlines()[:post_build] if line.startswith("USER ")]
    assert users[-1] == "${NB_USER}", "postBuild must run as the notebook user, who owns the files"


def test_postbuild_installs_helpers_configures_the_contents_manager_and_makes_the_copies(tmp_path):
    """Run binder/postBuild as repo2docker does: from the repository's root, its env first on PATH."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    repo = tmp_path / "repo"
    for name in tracked:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    env = dict(os.environ, PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run([repo / "binder" / "postBuild"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    where = subprocess.run([env_dir / "bin" / "python", "-c", "import helpers; print(helpers.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(repo / "helpers" / "__init__.py"), where.stderr
    # The learner's copies are made (the badge opens workspace/00_start_here.ipynb), one per chapter.
    made = sorted(path.name for path in (repo / "workspace").glob("*.ipynb"))
    assert made == sorted(path.name for path in (repo / "notebooks").glob("*.ipynb")), made
    assert re.search(r"urlpath=lab/tree/workspace/00_start_here\.ipynb", (ROOT / "README.md").read_text())
    # The server's config in the environment names the course's contents manager, keeping
    # what was there (a second run, as on a rebuild, changes nothing else).
    config = env_dir / "etc" / "jupyter" / "jupyter_server_config.json"
    config.write_text(json.dumps({"ServerApp": {"ip": "127.0.0.1"}, "Other": {"x": 1}}))
    for _ in range(2):
        again = subprocess.run([repo / "binder" / "postBuild"], cwd=repo, env=env,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(config.read_text()) == {
        "ServerApp": {"ip": "127.0.0.1", "contents_manager_class": course.CONTENTS_MANAGER}, "Other": {"x": 1}}
    # A Jupyter server reading that folder (as Binder's does: its env's etc/jupyter) loads it.
    shown = subprocess.run([Path(sys.executable).with_name("jupyter"), "server", "--show-config-json"],
                           env=dict(os.environ, JUPYTER_CONFIG_PATH=str(config.parent)),
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert json.loads(shown.stdout)["ServerApp"]["contents_manager_class"] == course.CONTENTS_MANAGER, shown.stderr
