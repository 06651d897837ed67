"""Chapter 11's exercise 11.3: copying the map's lines does not pass it, the right picks do, and each
wrong pick is told why it does not fit its job (never just "wrong"); bad input gets a clear line."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import nbformat
import pytest

from helpers._model_names import KIND, MODELS
from helpers.checks import ch11
from helpers.exercises import check, evaluate
from helpers.showdown import choose
from tests.showdown_figures import HERE, SLEEP_HERE, fake_sleep, fake_switch
from tests.solutions import ch11 as solutions
from tests.solutions.ch11 import CALLS, HASH, PICKS, POLLS, PROXY, TOML

pytestmark = pytest.mark.chapter("11")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "11_showdown.ipynb"
MAP_CELL, STUB_CELL = "131f89ff", "2a3472f9"  # the closing map; exercise 11.3's stub and check
SINGULAR = {plural: model for model, plural in KIND.items()}  # the map says "threads", MODELS "thread"


def cell(cell_id: str):
    return next(c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.id == cell_id)


def first_picks(text: str) -> dict[str, str]:
    """The map's printed lines -> {job: its first-ranked model, in MODELS' names}."""
    picks = {}
    for line in text.splitlines():
        if line.startswith("- "):
            job, _, rest = line[2:].partition(": ")
            picks[job] = SINGULAR.get(rest.split(" (")[0], rest.split(" (")[0])
    return picks


def copied(map_firsts: dict[str, str], lines: dict[str, str]) -> dict[str, str]:
    """For each job, the first model of the map line chosen for it (a line is named by its start)."""
    return {job: next(model for printed, model in map_firsts.items() if printed.startswith(start))
            for job, start in lines.items()}


# --- the chapter's own output does not pass ---------------------------------------------------------


def test_the_stored_map_prints_the_first_picks_the_chapter_code_copies():
    text = "".join(output.get("text", "") for output in cell(MAP_CELL).outputs)
    printed = first_picks(text)
    assert len(printed) == len(solutions.MAP_FIRST)
    assert copied(printed, {start: start for start in solutions.MAP_FIRST}) == solutions.MAP_FIRST


def test_picks_copied_from_the_stored_map_are_refused_with_each_jobs_reason():
    result = evaluate("11.3", solutions.COPIED_FROM_THE_MAP)
    assert result.status == "wrong", str(result)
    refused = [job for job in ch11.JOBS if solutions.COPIED_FROM_THE_MAP[job] not in ch11.JOBS[job]]
    assert refused == [HASH, POLLS, PROXY]  # three of the five jobs: the map's nearest line misleads
    assert result.message.startswith("3 of 5 picks do not fit yet.")
    for job in refused:
        assert ch11.REASONS[job][solutions.COPIED_FROM_THE_MAP[job]] in result.message


FIGURES = {  # other machines' figures: the map's first picks move, copying it still fails
    "here, 2 cores": dict(sleep=SLEEP_HERE, cores=2, gil="gil"),
    "8 cores": dict(sleep=SLEEP_HERE, cores=8, gil="gil"),
    "one core": dict(sleep=SLEEP_HERE, cores=1, gil="gil"),
    "free-threaded, 8 cores": dict(sleep=SLEEP_HERE, cores=8, gil="free-threaded"),
    "threads as light as tasks": dict(sleep={**SLEEP_HERE, "thread": (1.5, 1.4, 20)}, cores=2, gil="gil"),
}


@pytest.mark.parametrize("figures", FIGURES.values(), ids=FIGURES)
def test_copying_any_nearby_line_of_a_map_computed_from_other_figures_is_refused(figures):
    computed = choose(fake_sleep(**figures["sleep"]), fake_switch(**HERE), cores=figures["cores"], gil=figures["gil"])
    map_firsts = first_picks(str(computed))
    jobs = list(solutions.NEAREST)
    for lines in itertools.product(*solutions.NEAREST.values()):
        picks = copied(map_firsts, dict(zip(jobs, lines)))
        result = evaluate("11.3", picks)
        assert result.status == "wrong", f"{picks} passed: {result}"


# --- right answers pass ---------------------------------------------------------------------------


@pytest.mark.parametrize("picks", [PICKS, *solutions.ALSO_RIGHT["11.3"]])
def test_the_right_picks_pass_and_say_why(picks):
    result = evaluate("11.3", picks)
    assert result.status == "solved", str(result)
    assert all(why in result.message for why in ch11.WHY.values())


def test_every_model_of_every_job_is_right_or_has_that_jobs_reason():
    assert set(ch11.JOBS) == set(ch11.REASONS) == set(ch11.WHY)
    for job, right in ch11.JOBS.items():
        assert right and right <= set(MODELS), job
        assert set(ch11.REASONS[job]) == set(MODELS) - right, job
        assert all(len(reason) > 40 for reason in ch11.REASONS[job].values()), job


def test_each_job_accepts_exactly_what_the_job_allows():
    assert {job: set(right) for job, right in ch11.JOBS.items()} == {
        HASH: {"thread"}, TOML: {"process"}, POLLS: {"gevent"}, CALLS: {"thread", "gevent"}, PROXY: {"uvloop"}}


# --- each wrong pick is told its job's reason -----------------------------------------------------


@pytest.mark.parametrize(("job", "model", "words"), [
    (HASH, "process", "costs several times the hash itself"),
    (HASH, "asyncio", "one after another on one core"),
    (TOML, "thread", "holds the GIL"),
    (TOML, "gevent", "CPU work in Python"),
    (POLLS, "asyncio", "stops every other client"),
    (POLLS, "thread", "idle nearly all the time"),
    (POLLS, "greenlet", "nothing turns a blocking socket call into a switch"),
    (CALLS, "uvloop", "a loop helps only code that awaits"),
    (CALLS, "process", "it does not compute"),
    (CALLS, "select loop", "never sees those sockets"),
    (PROXY, "asyncio", "the same loop gives the same rate"),
    (PROXY, "process", "with one core a second process shares it"),
    (PROXY, "thread", "share the GIL and this one core"),
])
def test_a_wrong_pick_is_told_what_its_job_spends_its_time_on(job, model, words):
    result = evaluate("11.3", {**PICKS, job: model})
    assert result.status == "wrong", str(result)
    assert result.message.startswith(f"{model!r} for {job!r}: {ch11.REASONS[job][model]}")
    assert not any(other in result.message for other in ch11.JOBS if other != job)  # that job only
    assert words in result.message


# --- bad input: a clear line, never a traceback -------------------------------------------------


@pytest.mark.parametrize(("answer", "words"), [
    ({**PICKS, HASH: ...}, "no model yet for 'SHA-256"),
    ({**PICKS, HASH: None}, "no model yet for 'SHA-256"),
    ({job: model for job, model in PICKS.items() if job != TOML}, "no model for the job 'parse 10,000 TOML"),
    ({}, "no model for the job"),
    ({**{job: model for job, model in PICKS.items() if job != HASH}, "SHA-256 of each upload": "thread"},
     "'SHA-256 of each upload' is not one of the jobs: keep each job's text as it was given (no model yet for"),
    ({**PICKS, HASH: "threads"}, "the model is called 'thread'"),
    ({**PICKS, TOML: "Processes"}, "the model is called 'process'"),
    ({**PICKS, PROXY: "uv-loop"}, "the model is called 'uvloop'"),
    ({**PICKS, POLLS: "fibers"}, "is not one of the models: 'generator', 'select loop'"),
    ({**PICKS, CALLS: ["thread", "gevent"]}, "give one model's name, a str from MODELS"),
    ({**PICKS, CALLS: {"thread"}}, "give one model's name"),
    (list(PICKS.values()), "answer with a dict {job: model}"),
    ("thread", "answer with a dict {job: model}"),
])
def test_bad_input_gets_a_clear_message(answer, words):
    result = evaluate("11.3", answer)
    assert result.status == "wrong", str(result)
    assert words in result.message


# --- the notebook's stub ---------------------------------------------------------------------------


def stub_picks() -> dict[str, object]:
    tree = ast.parse(cell(STUB_CELL).source)
    found = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Dict))
    return {ast.literal_eval(key): ast.literal_eval(value) for key, value in zip(found.keys, found.values)}


def test_the_stub_lists_the_checks_jobs_and_its_stored_line_is_what_check_prints(capsys):
    picks = stub_picks()
    assert list(picks) == list(ch11.JOBS) and set(picks.values()) == {...}
    check("11.3", picks)
    printed = capsys.readouterr().out
    stored = "".join(output.get("text", "") for output in cell(STUB_CELL).outputs)
    assert printed == stored == 'Exercise 11.3 (Pick a model for each job): not solved yet. Stuck? Call hint("11.3").\n'
    assert len(cell(STUB_CELL).source.splitlines()) <= 20


def test_no_job_is_a_line_of_the_map():
    for job in ch11.JOBS:
        assert not any(job.startswith(line[:20]) or line.startswith(job[:20]) for line in solutions.MAP_FIRST), job
