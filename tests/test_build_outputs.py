"""tools/build.py outputs: what a regeneration keeps from the stored notebook, so a second one changes nothing."""

from __future__ import annotations

import nbformat

from tools.build import keep_ignored_outputs


def cell(source: str, text: str, cell_id: str) -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell(source, id=cell_id)
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return code


def test_an_unchanged_ignored_cell_keeps_its_stored_output_and_nothing_else_does():
    stored, new = nbformat.v4.new_notebook(), nbformat.v4.new_notebook()
    stored.cells = [cell("# NBVAL_IGNORE_OUTPUT\nprint(t)", "0.51 ms\n", "a"), cell("print(1)", "1\n", "b"),
                    cell("# NBVAL_IGNORE_OUTPUT\nprint(u)", "old\n", "c")]
    new.cells = [cell("# NBVAL_IGNORE_OUTPUT\nprint(t)", "0.73 ms\n", "a"), cell("print(1)", "2\n", "b"),
                 cell("# NBVAL_IGNORE_OUTPUT\nprint(u, v)", "changed code\n", "c")]
    assert keep_ignored_outputs(new, stored) == 1
    assert [c.outputs[0].text for c in new.cells] == ["0.51 ms\n", "2\n", "changed code\n"]


def test_outputs_refuses_an_unknown_option_or_chapter_before_running_anything(capsys):
    from tools.build import outputs

    assert outputs(["--help"]) == 2
    assert "unknown option --help" in capsys.readouterr().out
    assert outputs(["99"]) == 2
    assert "'99' is not a chapter of the course" in capsys.readouterr().out
