"""One source of truth for the pinned environment: requirements.in.

requirements.txt (pip), environment.yml (conda) and binder/environment.yml (Binder)
are generated from it by `python3 course.py lock`; these tests prove they agree.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import course
from tools.build import environment_yml

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)")


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found.setdefault(match.group(1).lower().replace("_", "-"), match.group(2))
    return found


def test_every_direct_pin_is_locked_at_the_same_version():
    direct = pins((ROOT / "requirements.in").read_text())
    locked = pins((ROOT / "requirements.txt").read_text())
    assert {"jupyterlab", "nbval", "gevent", "greenlet", "ipywidgets", "ipykernel"} <= set(direct)
    for name, version in direct.items():
        assert locked.get(name) == version, f"{name}: requirements.in says {version}, lock says {locked.get(name)}"


def test_every_locked_requirement_is_pinned_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert PIN.match(line.strip()), f"not pinned with ==: {line}"


def test_browser_pins_are_locked_and_agree_with_the_course_pins():
    """requirements-browser.txt installs on top of requirements.txt without changing a pin."""
    direct = pins((ROOT / "requirements-browser.in").read_text())
    extra = pins((ROOT / "requirements-browser.txt").read_text())
    course_pins = pins((ROOT / "requirements.txt").read_text())
    assert {"playwright", "jupyter-repo2docker"} <= set(direct)
    for name, version in direct.items():
        assert extra.get(name) == version, (
            f"{name}: requirements-browser.in says {version}, lock says {extra.get(name)}")
    for name, version in extra.items():
        assert course_pins.get(name, version) == version, (
            f"{name}: {version} here, {course_pins[name]} in requirements.txt")
    for line in (ROOT / "requirements-browser.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert PIN.match(line.strip()), f"not pinned with ==: {line}"
    # Learners and Binder do not get the browser tools.
    assert not {"playwright", "jupyter-repo2docker"} & set(course_pins)


def test_site_pins_are_locked_and_agree_with_the_course_and_browser_pins():
    """requirements-site.txt installs on top of requirements.txt and requirements-browser.txt."""
    direct = pins((ROOT / "requirements-site.in").read_text())
    extra = pins((ROOT / "requirements-site.txt").read_text())
    others = {**pins((ROOT / "requirements.txt").read_text()),
              **pins((ROOT / "requirements-browser.txt").read_text())}
    assert {"sphinx", "myst-nb", "sphinx-book-theme", "sphinx-copybutton"} <= set(direct)
    for name, version in direct.items():
        assert extra.get(name) == version, f"{name}: requirements-site.in says {version}, lock says {extra.get(name)}"
    for name, version in extra.items():
        assert others.get(name, version) == version, f"{name}: {version} here, {others[name]} elsewhere"
    for line in (ROOT / "requirements-site.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert PIN.match(line.strip()), f"not pinned with ==: {line}"
    # Learners and Binder do not get the website's tools.
    assert not {"sphinx", "myst-nb"} & set(pins((ROOT / "requirements.txt").read_text()))


def test_classroom_pins_are_locked_and_agree_with_every_other_lock():
    """requirements-classroom.txt installs into .venv beside the course's, the browser's and the site's pins."""
    direct = pins((ROOT / "requirements-classroom.in").read_text())
    extra = pins((ROOT / "requirements-classroom.txt").read_text())
    assert {"jupyterhub", "nbgitpuller", "configurable-http-proxy"} <= set(direct)
    assert direct["jupyterhub"].startswith("6.1.") and direct["nbgitpuller"].startswith("1.3.")
    for name, version in direct.items():
        assert extra.get(name) == version, (
            f"{name}: requirements-classroom.in says {version}, lock says {extra.get(name)}")
    for other in ("requirements.txt", "requirements-browser.txt", "requirements-site.txt"):
        for name, version in pins((ROOT / other).read_text()).items():
            assert extra.get(name, version) == version, f"{name}: {extra[name]} here, {version} in {other}"
    for line in (ROOT / "requirements-classroom.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert PIN.match(line.strip()), f"not pinned with ==: {line}"
    # Learners and Binder do not get the hub.
    assert not {"jupyterhub", "nbgitpuller"} & set(pins((ROOT / "requirements.txt").read_text()))


def test_conda_and_binder_environments_are_generated_from_the_lock():
    expected = environment_yml((ROOT / "requirements.txt").read_text())
    root = (ROOT / "environment.yml").read_text()
    assert root == expected, "environment.yml is stale: run `python3 course.py lock`"
    assert (ROOT / "binder" / "environment.yml").read_text() == root
    env = yaml.safe_load(root)
    assert "python=3.11" in env["dependencies"]
    pip_section = next(dep for dep in env["dependencies"] if isinstance(dep, dict))["pip"]
    assert pins("\n".join(pip_section)) == pins((ROOT / "requirements.txt").read_text())


def test_binder_installs_helpers_and_holds_its_whole_config():
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert re.search(r"pip install .*-e \.", post_build.read_text())
    # repo2docker reads only binder/ once it exists: nothing else may look like config there.
    assert sorted(p.name for p in (ROOT / "binder").iterdir()) == ["environment.yml", "postBuild"]


def test_python_version_agrees_everywhere():
    assert course.PYTHON_VERSION == (3, 11)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ">=3.11"
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["helpers", "helpers.*"]
