"""Tests for helpers._figures: the one lazy picture behind Timeline, WaitPlot, Picture and EchoFigure."""

from __future__ import annotations

from helpers import _figures


class _Square(_figures.LazyFigure):
    def __init__(self) -> None:
        self.draws = 0

    def _draw(self):
        from matplotlib.figure import Figure

        self.draws += 1
        figure = Figure(figsize=(2, 2), dpi=50)
        figure.add_subplot().plot([0, 1], [0, 1])
        return figure

    def __repr__(self) -> str:
        return "<square>"


def test_a_lazy_figure_draws_once_on_first_use_and_gives_the_same_bytes(tmp_path):
    square = _Square()
    assert square.draws == 0  # nothing drawn until asked
    png = square.png()
    assert png.startswith(b"\x89PNG") and square._repr_png_() == png
    assert square.figure is square.figure and square.draws == 1
    assert _Square().png() == png  # the same drawing, the same bytes
    square.save(str(tmp_path / "a.png"))
    assert (tmp_path / "a.png").read_bytes() == png
    square.savefig(str(tmp_path / "b.svg"))
    assert (tmp_path / "b.svg").read_text().lstrip().startswith("<?xml")
    assert square.draws == 1


def test_the_png_leaves_out_matplotlibs_version():
    assert b"Software" not in _Square().png()


def test_the_helpers_pictures_are_lazy_figures():
    from helpers.echobench import EchoFigure
    from helpers.models import WaitPlot
    from helpers.showdown import Picture
    from helpers.trace import Timeline

    for cls in (EchoFigure, WaitPlot, Picture, Timeline):
        assert issubclass(cls, _figures.LazyFigure)
