"""``pip install -e .`` alone makes every helper importable: the helpers declare what they import.

Two proofs: a cheap one that reads every import statement under ``helpers/`` and finds its
distribution among ``[project].dependencies``, and a real one that installs the project into
a brand-new virtual environment (no pins, nothing else) and imports every helper module there.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELPERS = ROOT / "helpers"


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_canonical(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_level_names() -> dict[str, set[str]]:
    """Every module name the helpers import (at any depth of the code), with the files that do."""
    found: dict[str, set[str]] = {}
    for path in HELPERS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], set()).add(path.relative_to(ROOT).as_posix())
    return found


def helper_modules() -> list[str]:
    return sorted("helpers." + ".".join(path.relative_to(HELPERS).with_suffix("").parts)
                  for path in HELPERS.rglob("*.py") if path.name != "__init__.py")


def test_every_third_party_import_of_the_helpers_is_a_declared_dependency():
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for name, files in imported_top_level_names().items():
        if name in sys.stdlib_module_names or name == "helpers":
            continue
        owners = {_canonical(owner) for owner in distributions.get(name, [name])}
        if not owners & declared():
            missing[name] = sorted(files)
    assert not missing, f"imported by the helpers but not in [project].dependencies: {missing}"


def test_the_import_scan_sees_what_the_helpers_import():
    names = imported_top_level_names()
    assert {"gevent", "greenlet", "aiohttp"} <= set(names)  # a scan that finds nothing proves nothing
    assert "matplotlib" in names and "ipywidgets" in names, "imports inside functions count too"


def test_pip_install_e_alone_makes_every_helper_importable(tmp_path):
    """A fresh venv, ``install -e .`` and nothing else, then import every module of helpers/."""
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if importlib.util.find_spec("uv") is not None:  # seconds instead of half a minute
        steps = [[sys.executable, "-m", "uv", "venv", "--quiet", "--python", sys.executable, venv],
                 [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", python, "-e", ROOT]]
    else:
        steps = [[sys.executable, "-m", "venv", venv],
                 [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ROOT]]
    for step in steps:
        done = subprocess.run([str(part) for part in step], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=100)
        assert done.returncode == 0, f"{step[2:4]} failed:\n{done.stderr[-2000:]}"
    modules = helper_modules()
    assert "helpers.trace" in modules and "helpers.checks.ch04" in modules
    probe = ("import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
             "print('imported', len(sys.argv) - 1)")
    done = subprocess.run([str(python), "-c", probe, *modules], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)  # not the checkout: helpers must come from the install
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"imported {len(modules)}"
