"""A matplotlib figure as PNG bytes, the same bytes for the same drawing (private to the helpers).

Who calls it: every helper whose picture a notebook shows (``trace.Timeline``, ``models``'
wait curve, ``showdown``'s pictures, ``echobench``'s figure), from their ``png()`` or
``_repr_png_()``. The Agg canvas draws without a display or the pyplot state machine, and the
"Software" metadata (matplotlib's version) is left out, so a stored picture does not change
when only matplotlib's version does. Nothing prints; matplotlib is imported on first use.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = ["png"]


def png(figure: Any) -> bytes:
    """``figure`` (a ``matplotlib.figure.Figure``) rendered as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()
