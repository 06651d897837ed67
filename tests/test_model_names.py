"""Chapter 11's models are named in one place (helpers._model_names), and every module reads them there."""

from helpers import _model_names, echobench, showdown
from helpers.checks import ch11


def test_the_showdown_and_the_echo_bench_print_the_names_of_the_one_table():
    assert showdown.MODELS is _model_names.MODELS
    assert showdown.SWITCH_MODELS is _model_names.SWITCH_MODELS
    assert echobench.MODELS is _model_names.ECHO_SERVERS


def test_exercise_11_3_accepts_exactly_the_chapters_models():
    assert ch11.MODEL_NAMES == set(_model_names.MODELS)


def test_every_echo_server_serves_with_a_model_of_the_chapter():
    assert set(_model_names.SERVED_BY.values()) <= set(_model_names.MODELS)
    assert set(_model_names.SWITCH_MODELS) <= set(_model_names.MODELS)
    assert set(echobench.EVENT_DRIVEN) <= set(echobench.MODELS) and set(echobench.LOOPS) <= set(echobench.MODELS)
    assert set(showdown.PREFERENCE) <= set(echobench.MODELS)


def test_a_model_says_what_one_of_it_is():
    assert [_model_names.kind(m) for m in ("thread", "process", "asyncio", "select loop")] == [
        "threads", "processes", "coroutines", "coroutines"]
