"""Tests for helpers.c10k: descriptor limits, select()'s ceiling, and held connections (scaled down)."""

from __future__ import annotations

import resource
import select
import selectors

import pytest

from helpers import _system, c10k
from helpers.c10k import emfile_demo, fd_limits, high_descriptor, hold_connections, plan_connections, select_ceiling


def test_fd_limits_raise_soft_to_hard():
    soft, hard = fd_limits()
    assert soft == hard == resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_emfile_demo_runs_out_then_recovers():
    text = emfile_demo()
    assert "OSError: [Errno 24] Too many open files" in text
    assert "opened 1,000 more sockets" in text
    assert "soft above hard: ValueError" in text


def test_high_descriptor_breaks_select_not_epoll():
    with high_descriptor(1500) as sock:
        assert sock.fileno() >= 1500
        with pytest.raises(ValueError, match="filedescriptor out of range in select"):
            select.select([sock], [], [], 0)
        with selectors.EpollSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)


def test_select_ceiling_is_fd_setsize():
    assert select_ceiling() == 1024


def test_plan_scales_down_with_a_reason(monkeypatch):
    assert plan_connections(1000) == (1000, "1,000 connections fit here (descriptors and memory)")
    monkeypatch.setattr(c10k, "fd_limits", lambda: (2000, 2000))
    n, why = plan_connections(10_000)
    assert n < 2000 and n % 100 == 0
    assert why.startswith(f"scaled down from 10,000 to {n:,} connections: that is what this kernel's descriptor")
    monkeypatch.setattr(_system, "mem_available", lambda: 20 * 2**20)
    n, why = plan_connections(10_000)
    assert "the memory available" in why and n == 200


@pytest.mark.parametrize("kind", ["selectors", "asyncio"])
def test_hold_connections_small(kind):
    report = hold_connections(kind, 300, sample=100)
    assert report.ok, report.text()
    assert report.connections == report.server_accepted == 300
    text = report.text()
    assert "connections open at once: 300, all accepted by the one server thread: True" in text
    assert "lines echoed byte-exact: 300 of 300; failures: none" in text
    assert 100 < report.bytes_per_connection < 50_000
    assert report.kernel_peak_rss > 0


def test_hold_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        hold_connections("threads", 10)


def test_band_picks_the_nearest_on_a_log_scale():
    assert c10k.band(1000, c10k.MEMORY_BANDS, c10k._kb) == "about 1 KB (not 128 B or 8 KB or 64 KB)"
    assert c10k.band(6000, c10k.MEMORY_BANDS, c10k._kb).startswith("about 8 KB")


def test_hold_connections_runs_a_notebooks_own_server():
    from tests.solutions.ch05 import chapter_function

    serve = chapter_function("selectors_server")
    report = hold_connections(serve, 300, sample=100)
    assert report.ok, report.text()
    assert report.text().startswith("your selectors_server (one thread, ")
    assert "connections open at once: 300, all accepted by the one server thread: True" in report.text()
    assert 100 < report.bytes_per_connection < 50_000
