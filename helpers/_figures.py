"""Pictures for notebooks: a matplotlib figure drawn on first use, shown as PNG bytes (private to the helpers).

Who calls it: every helper whose picture a notebook shows. ``trace.Timeline``, ``models.WaitPlot``,
``showdown.Picture`` and ``echobench.EchoFigure`` are :class:`LazyFigure` subclasses: each says
how to draw itself (``_draw``) and what its text form is (``__repr__``, the part nbval compares);
the base draws once, on first use (``figure``, ``png()``, Jupyter's ``_repr_png_``, ``save``,
``savefig``), and keeps the figure. :func:`png` renders any figure: ``procs.SpansPicture``, which
draws afresh each time, uses it with the spans it drew as a PNG text chunk.

The Agg canvas draws without a display or the pyplot state machine (so a picture never shows up
twice, and may be built in any thread), and the "Software" metadata (matplotlib's version) is
left out, so a stored picture does not change when only matplotlib's version does. Nothing
prints; matplotlib is imported on first use.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

__all__ = ["LazyFigure", "png"]


def png(figure: Any, text: Mapping[str, str] | None = None) -> bytes:
    """``figure`` (a ``matplotlib.figure.Figure``) rendered as PNG bytes, with ``text`` as PNG text chunks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None, **(text or {})})
    return buffer.getvalue()


class LazyFigure:
    """A picture drawn on first use: ``figure`` (matplotlib, no pyplot state), shown as a PNG by Jupyter.

    A subclass draws in ``_draw`` (returning a new ``matplotlib.figure.Figure``) and gives its
    text form in ``__repr__``. The same drawing gives the same PNG bytes.
    """

    _figure: Any = None  # the Figure, once drawn

    def _draw(self) -> Any:
        raise NotImplementedError

    @property
    def figure(self) -> Any:
        """The matplotlib Figure (drawn on first use), to adjust or save it."""
        if self._figure is None:
            self._figure = self._draw()
        return self._figure

    def png(self) -> bytes:
        """The picture as PNG bytes (identical bytes for an identical drawing)."""
        return png(self.figure)

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: str) -> None:
        """Write the picture to ``path`` as PNG (the bytes a notebook shows)."""
        with open(path, "wb") as file:
            file.write(self.png())

    def savefig(self, *args: Any, **kwargs: Any) -> None:
        """matplotlib's ``Figure.savefig`` on the figure: any format, any options."""
        self.figure.savefig(*args, **kwargs)
