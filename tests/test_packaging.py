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
import sysconfig
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


def declared_closure() -> list[importlib.metadata.Distribution]:
    """The distributions installed here that ``[project].dependencies`` needs, and what they need."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [(Requirement(spec), "") for spec in project["dependencies"]]
    found: dict[str, importlib.metadata.Distribution] = {}
    extras_seen: set[tuple[str, str]] = set()
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = _canonical(requirement.name)
        wanted = {""} | set(requirement.extras)
        if name in found and all((name, e) in extras_seen for e in wanted):
            continue
        found[name] = importlib.metadata.distribution(requirement.name)  # PackageNotFoundError: not here
        for e in wanted - {x for n, x in extras_seen if n == name}:
            extras_seen.add((name, e))
            todo.extend((Requirement(spec), e) for spec in found[name].requires or [])
    return list(found.values())


def install_from_here(dist: importlib.metadata.Distribution, site_packages: Path) -> None:
    """Put ``dist``, as installed here, into another site-packages: a link per top-level entry it owns."""
    tops = {file.parts[0] for file in dist.files or [] if file.parts[0] not in ("..", "__pycache__")}
    for top in sorted(tops):
        source = Path(dist.locate_file(top))
        target = site_packages / top
        if source.exists() and not target.exists():
            target.symlink_to(source, target_is_directory=source.is_dir())


def test_pip_install_e_alone_makes_every_helper_importable(tmp_path):
    """A fresh venv with the project's ``install -e .`` and nothing but its declared dependencies.

    Offline, like the rest of the validation once the environment is built: nothing is
    downloaded. The fresh venv (no pip) gets, linked from this environment, the editable install
    of ``switchyard-helpers`` that ``install -e .`` made when the environment was built, and
    exactly the distributions ``[project].dependencies`` of today's pyproject.toml name, with
    those they need (their own Requires-Dist): a helper import the declarations forgot fails in
    the import probe, because nothing else is there.
    """
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        capture_output=True, text=True, check=True, env=env).stdout.strip())
    here = [sysconfig.get_path("purelib")]  # not an egg-info a build left in the checkout
    project = next(importlib.metadata.distributions(name="switchyard-helpers", path=here))
    assert any(file.name.endswith(".pth") for file in project.files), "helpers is not installed with -e here"
    closure = declared_closure()
    names = {_canonical(dist.metadata["Name"]) for dist in closure}
    assert {"aiohttp", "gevent", "matplotlib"} <= names and "pytest" not in names and "nbval" not in names
    for dist in [project, *closure]:
        install_from_here(dist, site_packages)
    modules = helper_modules()
    assert "helpers.trace" in modules and "helpers.checks.ch04" in modules
    probe = ("import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
             "print('imported', len(sys.argv) - 1)")
    done = subprocess.run([str(python), "-I", "-c", probe, *modules], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)  # -I, not the checkout: helpers must come from the install
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"imported {len(modules)}"
