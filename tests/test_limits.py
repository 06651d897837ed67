"""Tests for helpers.limits: the verdict on a concurrency limit changes with the figures."""

import pytest

from helpers.limits import limit_verdict


@pytest.mark.parametrize("limited, unlimited, words, holds", [
    (0.4, 1.6, "the limit of 3 wins", True),      # a site for 3, 12 at once: about 16 delays against 4
    (0.4, 0.1, "the limit of 3 loses", False),    # a site for 12: 1 delay against 4
    (0.4, 0.5, "no clear winner", False),
    (0.4, 0.79, "no clear winner", False),
    (0.4, 0.8, "wins", True),
    (0.4, 0.2, "loses", False),
])
def test_the_verdict_follows_the_figures(limited, unlimited, words, holds):
    verdict = limit_verdict(limited, unlimited, 3)
    assert words in str(verdict)
    assert verdict.holds is holds
    assert verdict.ratio == pytest.approx(unlimited / limited)


def test_the_limit_is_named():
    assert "limit of 5" in str(limit_verdict(1, 3, 5))


@pytest.mark.parametrize("arguments", [(0, 1, 3), (1, -1, 3), (1, 1, 0), (1, 1, True), (1, 1, 2.5), ("1", 1, 3)])
def test_bad_input_is_refused(arguments):
    with pytest.raises((ValueError, TypeError)):
        limit_verdict(*arguments)
