"""Chapter 05's exercises: the chapter's own code does not pass them, and each wrong answer fails for its reason."""

from __future__ import annotations

import pytest

from helpers.exercises import evaluate, registered
from tests.solutions import ch05

pytestmark = pytest.mark.chapter("05")


def test_every_chapter_05_exercise_has_chapter_code_and_two_hint_stages():
    numbers = [number for number in registered() if number.startswith("05.")]
    assert sorted(numbers) == sorted(ch05.CHAPTER_CODE)
    for number in numbers:
        hints = registered()[number].hints
        assert len(hints) >= 2, number
        assert hints[0].rstrip().endswith("?"), f"the first hint of {number} is a question"


@pytest.mark.parametrize(("number", "answer", "reason"), [
    ("05.1", ch05.serve_without_limit, "never reads is still connected"),
    ("05.1", ch05.serve_dying_on_reset, "reset"),
    ("05.1", ch05.serve_echoing_the_sender, "its own bytes back"),
    ("05.1", ch05.serve_stalling_everyone, "must not hold up the others"),
    ("05.3", ch05.accept_one, "were waiting behind one edge"),
    ("05.3", ch05.accept_leaving_blocking, "non-blocking"),
    ("05.3", ch05.chapter_drain_accept, "about one client only"),
    ("05.3", ch05.accept_stopping_at_an_abort, "no new edge will report the ones still queued"),
    ("05.3", ch05.accept_dying_out_of_descriptors, "a server lives on"),
    ("05.3", ch05.accept_retrying_out_of_descriptors, "you kept calling it"),
    ("05.3", ch05.accept_claiming_drained, "must hear it from you"),
    ("05.3", ch05.accept_hiding_every_error, "let any other error out"),
    ("05.3", ch05.accept_without_the_flag, "should return a pair"),
])
def test_wrong_answers_fail_for_their_reason(number: str, answer, reason: str):
    result = evaluate(number, answer)
    assert result.status == "wrong", str(result)
    assert reason in str(result), str(result)


@pytest.mark.parametrize("name", ["robust_select_server", "selectors_server"])
def test_the_chapters_hardened_servers_survive_resets_and_apply_back_pressure(name: str):
    from helpers.selectdemo import BOUNDED, rude_clients, serve_in_thread
    from helpers.swarm import echo_payloads, swarm

    serve = ch05.chapter_function(name)
    with serve_in_thread(serve, send_buffer=4096, receive_buffer=4096) as server:
        with rude_clients(server.address, resets=30, hogs=2) as rude:
            report = swarm(server.address, echo_payloads(100, size=300, lines=3), hold=True)
    assert rude.reset == 30 and len(rude.taken) == 2
    assert rude.most_taken <= BOUNDED, rude.taken
    assert report.ok, report.text()
    assert server.error is None and server.stopped and server.left_open == 0


def test_the_chapters_first_select_server_dies_of_a_reset_and_takes_everything():
    from helpers.selectdemo import BOUNDED, rude_clients, serve_in_thread

    serve = ch05.chapter_function("select_server")
    with serve_in_thread(serve, send_buffer=4096, receive_buffer=4096) as server:
        with rude_clients(server.address, resets=20, hogs=0):
            pass
    assert isinstance(server.error, ConnectionError)
    with serve_in_thread(serve, send_buffer=4096, receive_buffer=4096) as server:
        with rude_clients(server.address, resets=0, hogs=1, hog_bytes=2**21) as rude:
            pass
    assert rude.most_taken > BOUNDED
