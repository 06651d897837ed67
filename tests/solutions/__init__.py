"""Reference answers for the exercises, one module per chapter: ``tests/solutions/chNN.py``.

Each module defines two dicts, keyed by exercise id ("NN.k"):

    SOLUTIONS: dict[str, object]        a correct answer (what a learner would pass to check)
    WRONG: dict[str, list[object]]      answers that must NOT pass: at least one per exercise

tests/test_every_exercise.py checks, for every exercise that ``helpers/checks/chNN.py``
registers, that its solution is "solved", that every wrong answer is not, and that the
stub ``...`` is "not solved yet". The solutions live here, not in the notebooks, so a
learner does not see them.
"""
