"""helpers.progress: silent outside a kernel; in a real kernel one stable display, then comm updates."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers.progress import Progress, progress


def test_outside_a_kernel_it_counts_and_prints_nothing(capsys):
    with progress(3, "demo") as bar:
        bar.advance(note="one")
        bar.advance(2, note="two and three")
        bar.advance(note="past the end is clamped")
    assert (bar.value, bar.note) == (3, "past the end is clamped")
    assert bar.bar is None and bar.text == "demo: 0/3"
    assert capsys.readouterr() == ("", "")


def test_plain_python_prints_nothing():
    code = ("from helpers.progress import progress\n"
            "with progress(2, 'x') as bar:\n    bar.advance(); bar.advance()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("total", [-1, 2.5, True, "3"])
def test_bad_total(total):
    with pytest.raises(ValueError, match="total must be an int"):
        progress(total, "x")


def test_bad_advance():
    with progress(2, "x") as bar, pytest.raises(ValueError, match="n must be an int"):
        bar.advance(-1)


def test_with_widgets_the_text_form_is_fixed_and_updates_go_to_the_widget(monkeypatch):
    shown = []
    monkeypatch.setattr("helpers.progress._display", lambda obj: shown.append(obj))
    bar = Progress(4, "bench", show=True)
    with bar:
        bar.advance(note="threads x 1")
        bundle = shown[0]._repr_mimebundle_()
        bar.advance(3, note="all")
    assert len(shown) == 1
    assert bundle["text/plain"] == "bench: 0/4"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert (bar.bar.value, bar.bar.max, bar.bar.bar_style) == (4, 4, "success")
    assert bar.status.value == "4/4 all"
    with pytest.raises(KeyError), Progress(2, "bench", show=True) as failing:
        failing.advance()
        raise KeyError("stop")
    assert failing.bar.bar_style == "danger" and failing.status.value == "stopped at 1/2"
    for widget in (bar.bar, bar.status, failing.bar, failing.status):
        widget.close()


KERNEL_CODE = """\
from helpers.progress import progress
with progress(5, "demo") as bar:
    for i in range(5):
        bar.advance(note=f"step {i}")
"""


def _run_in_kernel(client, code):
    msg_id = client.execute(code)
    seen = []
    while True:
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return seen
        seen.append((kind, msg["content"]))


def test_in_a_real_kernel_one_stable_display_then_only_comm_messages():
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", extra_arguments=[])
    try:
        runs = [_run_in_kernel(client, KERNEL_CODE) for _ in range(2)]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    texts = []
    for seen in runs:
        kinds = [kind for kind, _content in seen]
        assert "stream" not in kinds and "error" not in kinds and "execute_result" not in kinds, seen
        displays = [content for kind, content in seen if kind == "display_data"]
        assert len(displays) == 1, seen
        assert "application/vnd.jupyter.widget-view+json" in displays[0]["data"]
        texts.append(displays[0]["data"]["text/plain"])
        assert kinds.count("comm_msg") >= 5  # the updates travel as widget state changes
    assert texts == ["demo: 0/5", "demo: 0/5"]


def test_show_false_is_the_one_silent_bar_even_in_a_kernel(monkeypatch):
    shown = []
    monkeypatch.setattr("helpers.progress.in_kernel", lambda: True)
    monkeypatch.setattr("helpers.progress._display", lambda obj: shown.append(obj))
    with progress(3, "quiet", show=False) as quiet:
        quiet.advance(note="counted")
    assert (quiet.value, quiet.note, quiet.bar, shown) == (1, "counted", None, [])
    with progress(3, "loud") as loud:  # show=True (the default): shown where a kernel is
        loud.advance()
    assert len(shown) == 1 and loud.bar is not None
    for widget in (loud.bar, loud.status):
        widget.close()
