"""The exercises' checkers, one module per chapter.

Layout:

    helpers/checks/chNN.py    the checkers of chapter NN's exercises "NN.1", "NN.2", ...
    tests/solutions/chNN.py   a reference solution and some wrong answers for each of them

A chapter module registers each checker with ``helpers.exercises.exercise``::

    from helpers.exercises import Wrong, exercise

    @exercise("00.1", title="Add two numbers",
              hint=("Which operator adds two numbers?",             # hint("00.1"), first call
                    "Return the sum of the two arguments."))        # second call: stronger
    def _add(answer):
        got = answer(2, 3)
        if got != 5:
            raise Wrong(f"add(2, 3) should be 5, got {got!r}")
        return "add(2, 3) == 5."

Hints come in stages, gentlest first (a single str is one stage), and never contain the
reference solution's code: tests/test_every_exercise.py compares each stage with the source of
the solution in tests/solutions/chNN.py. Other right answers may go in an ``ALSO_RIGHT``
dict there; they must pass too.

Nothing imports these modules up front: ``check("00.1", ...)`` in a notebook imports
``helpers.checks.ch00`` on first use, and ``helpers.exercises.registered()`` imports
every ``chNN.py`` here (the unit tests use it to run every reference solution).
An id "NN.k" must be registered in ``chNN.py``, or it will not be found.
"""
