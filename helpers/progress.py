"""A progress bar for long measurements that stored notebooks can compare.

Who calls it: helpers that run for many seconds (chapter 11's showdown), from the kernel's
main thread::

    with progress(28, "echo bench") as bar:
        for step in steps:
            run(step)
            bar.advance(note=f"{step} done")

In a Jupyter kernel the bar is a standard ipywidgets ``IntProgress`` with a ``Label`` beside
it. It is displayed once, at value 0; every ``advance`` then changes the widget (comm
messages to the browser, not new cell outputs). Its text form, the only part nbval
compares, is fixed when it is displayed (``echo bench: 0/28``), so a stored notebook matches
on every run. On exit the bar stays, full (green) or stopped where it was (red) if the block
raised; nothing else is printed. Outside a kernel (plain python, pytest) nothing is shown
and nothing printed, the counting still works (``bar.value``, ``bar.note``); ``show=False``
makes the same silent bar in a kernel too, so a helper's ``progress=False`` needs no other object.

Threads: call ``advance`` from the thread that entered the block; nothing here prints, from
any thread.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress", "progress"]


def _shell() -> Any:
    """The kernel's shell when running inside a Jupyter (ipykernel) kernel, else None.

    A kernel has imported IPython before any cell runs; plain python has not, and then
    nothing is imported here (ipywidgets brings IPython with it, for the kernel's side).
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell if getattr(shell, "kernel", None) is not None else None


def in_kernel() -> bool:
    """True when running inside a Jupyter (ipykernel) kernel that can show widgets."""
    return _shell() is not None


def _display(view: Any) -> None:
    """Show ``view`` once in the running cell's output (what ``IPython.display.display`` does)."""
    shell = _shell()
    if shell is not None:
        data = view._repr_mimebundle_()
        shell.display_pub.publish(data=data, metadata={})


class _View:
    """What is displayed: the widget's view, with a text form fixed at creation."""

    def __init__(self, box: Any, text: str) -> None:
        self.box = box
        self.text = text

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = self.box._repr_mimebundle_(**kwargs) or {}
        bundle = dict(bundle)
        bundle["text/plain"] = self.text
        return bundle

    def __repr__(self) -> str:
        return self.text


class Progress:
    """Counts ``total`` steps of ``label``; shows a bar in a kernel (see the module docstring)."""

    def __init__(self, total: int, label: str, *, show: bool | None = None, text: str | None = None) -> None:
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total must be an int >= 0 (the number of steps), not {total!r}")
        if not isinstance(label, str):
            raise ValueError(f"label must be a str, not {label!r}")
        if text is not None and not isinstance(text, str):
            raise ValueError(f"text must be a str, not {text!r}")
        self.total = total
        self.label = label
        self._text = text
        self.value = 0
        self.note = ""
        self.show = in_kernel() if show is None else bool(show)
        self.bar: Any = None
        self.status: Any = None
        self.view: _View | None = None

    @property
    def text(self) -> str:
        """The bar's fixed text form (what a stored notebook holds): ``text`` if given, else "label: 0/total"."""
        return self._text if self._text is not None else f"{self.label}: 0/{self.total}"

    def __enter__(self) -> Progress:
        self.value = 0
        self.note = ""
        if self.show:
            import ipywidgets as w

            self.bar = w.IntProgress(value=0, min=0, max=max(self.total, 1), description=self.label,
                                     bar_style="info", style={"description_width": "initial"})
            self.status = w.Label(value="")
            self.view = _View(w.HBox([self.bar, self.status]), self.text)
            _display(self.view)
        return self

    def advance(self, n: int = 1, note: str = "") -> None:
        """Count ``n`` more steps done (never past ``total``); ``note`` shows beside the bar."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, not {n!r}")
        self.value = min(self.total, self.value + n)
        self.note = str(note)
        if self.bar is not None:
            self.bar.value = self.value
            self.status.value = f"{self.value}/{self.total} {self.note}".rstrip()

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        if self.bar is not None:
            self.bar.bar_style = "danger" if kind is not None else "success"
            if kind is not None:
                self.status.value = f"stopped at {self.value}/{self.total}"

    def __repr__(self) -> str:
        return f"<Progress {self.label}: {self.value}/{self.total}>"


def progress(total: int, label: str, *, text: str | None = None, show: bool = True) -> Progress:
    """A context manager counting ``total`` steps; a widget bar in a kernel, silent elsewhere.

    ``text`` replaces the fixed text form ("label: 0/total"), which reads like a stalled count in a
    stored notebook: say what the bar stands for instead. ``show=False`` is the one way to say "no
    bar" (a helper's ``progress=False``): the same object, counting, never shown, even in a kernel."""
    return Progress(total, label, text=text, show=None if show else False)
