"""Show what changed between two versions of some code: only the lines added, removed, and a little context.

Who calls it: chapter 06, which grows a program in small steps (callbacks, a Future, a Task,
``yield from``, ``async``/``await``) and shows each step as the difference from the last one,
like ``diff step1.py step2.py`` in a terminal::

    print(changes(fetch_with_generators, fetch_with_await))

    - def fetch_with_generators(loop, address, path):
    + async def fetch_with_await(address, path):
      ...

Each version is a function or a class (its source is read with :func:`inspect.getsource`,
which also works for code defined in a notebook cell) or a string of source. Lines start with
``+`` (only in the new version), ``-`` (only in the old one) or two spaces (unchanged context);
``...`` marks unchanged lines left out. The text depends only on the two sources. Nothing prints.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import linecache
import textwrap

__all__ = ["changes"]


def _class_source(cls: type) -> str | None:
    """The source of a class defined in a notebook cell (where inspect.getsource fails before 3.13).

    Found through one of its functions: the cell's text is in linecache under the function's
    file name, and the class is the ``class`` statement of that name around the function.
    """
    for value in vars(cls).values():
        function = getattr(value, "__func__", value)
        code = getattr(function, "__code__", None)
        if code is None:
            continue
        text = "".join(linecache.getlines(code.co_filename))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.ClassDef) and node.name == cls.__name__
                    and node.lineno <= code.co_firstlineno <= (node.end_lineno or 0)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                return "\n".join(text.splitlines()[start - 1: node.end_lineno])
    return None


def _source(code: object, what: str) -> list[str]:
    if isinstance(code, str):
        text = code
    elif inspect.isfunction(code) or inspect.isclass(code) or inspect.ismethod(code):
        try:
            text = inspect.getsource(code)
        except (OSError, TypeError) as error:
            found = _class_source(code) if inspect.isclass(code) else None
            if found is None:
                raise ValueError(f"cannot read the source of {what} {code!r}: {error}") from None
            text = found
    else:
        raise TypeError(f"{what} must be a function, a class or a string of source, not {type(code).__name__}")
    return textwrap.dedent(text).strip("\n").splitlines()


def changes(old: object, new: object, *, context: int = 1) -> str:
    """The lines that differ between ``old`` and ``new`` (functions, classes or source strings).

    ``context``: unchanged lines shown around each change (0 for none). Returns
    "(no changes)" when the sources are the same.
    """
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise ValueError(f"context must be a whole number >= 0, not {context!r}")
    before, after = _source(old, "old"), _source(new, "new")
    lines: list[str] = []
    for line in difflib.unified_diff(before, after, n=context, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            if lines:
                lines.append("...")
            continue
        lines.append((line[0] if line[:1] in "+-" else " ") + " " + line[1:])
    return "\n".join(line.rstrip() for line in lines) or "(no changes)"
