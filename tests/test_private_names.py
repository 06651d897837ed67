"""No module of the course reaches into another module's private names.

The rule, over every module under helpers/, tools/ and tests/ and course.py:

* A private name is one with a single leading underscore (``_census``; dunders like ``__path__``
  are not private). A module uses its own private names freely.
* It never uses another project module's private names: not ``from helpers.models import _census``,
  not ``models._census`` through an import of that module, not ``setattr(models, "_census", ...)``
  or ``monkeypatch.setattr("helpers.models._census", ...)``. What two modules share goes into a
  module of its own, and there it is public.
* A private *module* (``helpers._system``, ``helpers._figures``, ``helpers.checks._async``) is
  fine to import: its underscore says "not for notebooks", and its public names are what it offers
  the rest of the package.
* A test may reach the private names of the module it tests, and only that one:
  ``tests/test_<stem>.py`` (also under tests/browser/) tests the module named by the longest
  leading part of ``<stem>`` (split at underscores) that is ``helpers.<part>``,
  ``helpers._<part>``, ``helpers.checks.<part>`` or ``tools.<part>``: ``test_exercises_checks``
  would test ``helpers.exercises``, ``test_ch05_checks`` tests ``helpers.checks.ch05``, ``test_system``
  tests ``helpers._system``. What several tests share (fake reports, fixtures) lives in a test
  module of its own with public names.

The second half of this file proves the scanner catches each form on small made-up modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("helpers", "tools", "tests")
ATTR_CALLS = {"setattr", "getattr", "delattr", "hasattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_name(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _under_test(path: str, modules: set[str]) -> str | None:
    """The module a test file tests (see the module docstring), or None for any other file."""
    stem = Path(path).stem
    if not (path.startswith("tests/") and stem.startswith("test_")):
        return None
    parts = stem.removeprefix("test_").split("_")
    for k in range(len(parts), 0, -1):
        part = "_".join(parts[:k])
        for candidate in (f"helpers.{part}", f"helpers._{part}", f"helpers.checks.{part}", f"tools.{part}"):
            if candidate in modules:
                return candidate
    return None


def violations(sources: dict[str, str]) -> list[str]:
    """``path:line: what`` for every use of another module's private name in ``sources`` (path -> code)."""
    modules = {_module_name(path) for path in sources}
    return [found for path, source in sorted(sources.items()) for found in _scan(path, source, modules)]


def _scan(path: str, source: str, modules: set[str]) -> list[str]:
    me = _module_name(path)
    tested = _under_test(path, modules)
    package = me if path.endswith("__init__.py") else me.rpartition(".")[0]
    found = []

    def reached(line: int, module: str, name: str) -> None:
        target = f"{module}.{name}"
        if (_private(name) and module in modules and module not in (me, tested)
                and target not in modules):
            found.append(f"{path}:{line}: {target}")

    tree = ast.parse(source, path)
    aliases: dict[str, str] = {}  # local name -> the module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
                else:
                    reached(node.lineno, base, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top

    def resolve(node: ast.expr) -> str | None:
        """The dotted name ``node`` stands for, if it starts at an imported module."""
        if isinstance(node, ast.Name):
            return aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = resolve(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = resolve(node.value)
            if base is not None:
                reached(node.lineno, base, node.attr)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called not in ATTR_CALLS:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and "." in first.value:
                module, _, name = first.value.rpartition(".")
                reached(node.lineno, module, name)
            elif len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                    and isinstance(node.args[1].value, str):
                base = resolve(first)
                if base is not None:
                    reached(node.lineno, base, node.args[1].value)
    return found


def project_sources() -> dict[str, str]:
    files = [path for folder in SCANNED for path in (ROOT / folder).rglob("*.py")] + [ROOT / "course.py"]
    return {path.relative_to(ROOT).as_posix(): path.read_text("utf-8") for path in files
            if ".venv" not in path.parts}


def test_no_module_uses_another_modules_private_names():
    assert violations(project_sources()) == []


# --------------------------------------------------------------- the scanner catches what it must

PACKAGE = {
    "helpers/__init__.py": "",
    "helpers/models.py": "def _census(pid): ...\ndef census(pid): return _census(pid)\n",
    "helpers/_system.py": "def census(pid): ...\ndef _helper(): ...\n",
    "helpers/checks/__init__.py": "",
    "helpers/checks/ch07.py": "def _needs_async(answer): ...\n",
    "tests/__init__.py": "",
}


def scan(path: str, source: str) -> list[str]:
    return violations({**PACKAGE, path: source})


def test_a_clean_package_passes():
    assert violations(PACKAGE) == []


def test_each_way_of_reaching_a_private_name_is_caught():
    assert scan("helpers/echobench.py", "from helpers.models import _census\n") == [
        "helpers/echobench.py:1: helpers.models._census"]
    assert scan("helpers/echobench.py", "from helpers import models\nmodels._census(1)\n") == [
        "helpers/echobench.py:2: helpers.models._census"]
    assert scan("helpers/echobench.py", "import helpers.models as m\nm._census(1)\n") == [
        "helpers/echobench.py:2: helpers.models._census"]
    assert scan("helpers/echobench.py", "import helpers.models\nhelpers.models._census(1)\n") == [
        "helpers/echobench.py:2: helpers.models._census"]
    assert scan("helpers/checks/ch09.py", "from .ch07 import _needs_async\n") == [
        "helpers/checks/ch09.py:1: helpers.checks.ch07._needs_async"]
    assert scan("helpers/echobench.py", "from helpers import _system\n_system._helper()\n") == [
        "helpers/echobench.py:2: helpers._system._helper"]
    assert scan("tests/test_echobench.py", "from helpers import models\n"
                "def test_x(monkeypatch):\n    monkeypatch.setattr(models, '_census', None)\n") == [
        "tests/test_echobench.py:3: helpers.models._census"]
    assert scan("tests/test_echobench.py",
                "def test_x(monkeypatch):\n    monkeypatch.setattr('helpers.models._census', None)\n") == [
        "tests/test_echobench.py:2: helpers.models._census"]


def test_what_the_rule_allows_passes():
    assert scan("helpers/echobench.py", "from helpers import _system\nfrom helpers.models import census\n"
                "_system.census(1)\n") == []
    assert scan("helpers/echobench.py", "import helpers._system\nhelpers._system.census(1)\n") == []
    assert scan("helpers/echobench.py", "def _mine(): ...\n_mine()\nfrom helpers import checks\n"
                "checks.__path__\n") == []
    assert scan("tests/test_models.py", "from helpers import models\nmodels._census(1)\n"
                "from helpers.models import _census\n") == []
    assert scan("tests/test_system.py", "from helpers import _system\n_system._helper()\n") == []
    assert scan("tests/test_ch07_checks.py", "from helpers.checks.ch07 import _needs_async\n") == []
    assert scan("tests/test_models_more.py", "from helpers.models import _census\n") == []


def test_a_test_reaches_only_the_module_it_tests():
    assert scan("tests/test_models.py", "from helpers.checks.ch07 import _needs_async\n") == [
        "tests/test_models.py:1: helpers.checks.ch07._needs_async"]
    assert scan("tests/test_other.py", "from tests.test_models import _fake\n") == []  # not a project module
    assert violations({**PACKAGE, "tests/test_models.py": "def _fake(): ...\n",
                       "tests/test_echobench.py": "from tests.test_models import _fake\n"}) == [
        "tests/test_echobench.py:1: tests.test_models._fake"]
