"""helpers.codediff.changes: the lines that differ between two versions of some code."""

from __future__ import annotations

import linecache

import pytest

from helpers.codediff import changes


def old(x):
    y = x + 1
    return y


def new(x):
    y = x + 1
    print(y)
    return y


def test_functions():
    assert changes(old, new) == "- def old(x):\n+ def new(x):\n      y = x + 1\n+     print(y)\n      return y"


def test_no_context_and_gaps_marked():
    a = "\n".join(f"line {n}" for n in range(10))
    b = a.replace("line 2", "line two").replace("line 8", "line eight")
    assert changes(a, b, context=0) == "- line 2\n+ line two\n...\n- line 8\n+ line eight"


def test_same_source():
    assert changes(old, old) == "(no changes)"


def test_class_defined_where_inspect_cannot_find_it():
    """Like a notebook cell: the source is only in linecache, under the cell's file name."""
    source = "class Cell:\n    def one(self):\n        return 1\n"
    filename = "<cell-for-test_codediff>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        namespace = {"__name__": "__main__"}
        exec(compile(source, filename, "exec"), namespace)
        assert changes(namespace["Cell"], source.replace("return 1", "return 2"), context=0) == (
            "-         return 1\n+         return 2")
    finally:
        linecache.cache.pop(filename, None)


def test_bad_arguments():
    with pytest.raises(TypeError, match="function, a class or a string"):
        changes(42, old)
    with pytest.raises(ValueError, match="context"):
        changes(old, new, context=-1)
    with pytest.raises(ValueError, match="cannot read the source"):
        changes(eval("lambda: 1"), old)
