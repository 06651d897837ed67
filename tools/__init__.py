"""Course tooling for instructors and CI: not imported by the notebooks.

- ``chapters``: the chapter list (numbers, file names, titles) everything else derives from.
- ``notebooks``: navigation cells, metadata normalisation and the repository's invariants.
- ``build``: ``python3 course.py outputs`` / ``lock``.
- ``pytest_harness``: the pytest plugin that makes a hung notebook fail the validation.
- ``leaks``: snapshots of threads, sockets and child processes, for leak checks.
- ``pythons``: the Python versions the notebooks are validated on and their environments.
"""
