"""Reference solutions (and answers that must fail) for chapter 02's exercises."""

from collections import deque


def collect(subgenerators):
    results = []
    for sub in subgenerators:
        results.append((yield from sub))
    return results


def collect_with_a_loop(subgenerators):
    results = []
    for sub in subgenerators:
        for value in sub:  # re-yields, but send() never reaches sub
            yield value
        results.append(None)
    return results


def collect_last_only(subgenerators):
    result = None
    for sub in subgenerators:
        result = yield from sub
    return [result] if result is not None else []


def collect_not_a_generator(subgenerators):
    return [list(sub) for sub in subgenerators]


def pep380(subiterable):
    _i = iter(subiterable)
    try:
        _y = next(_i)
    except StopIteration as _e:
        _r = _e.value
    else:
        while True:
            try:
                _s = yield _y
            except GeneratorExit as _e:
                try:
                    _m = _i.close
                except AttributeError:
                    pass
                else:
                    _m()
                raise _e
            except BaseException as _e:
                try:
                    _m = _i.throw
                except AttributeError:
                    raise _e
                else:
                    try:
                        _y = _m(_e)
                    except StopIteration as _e:
                        _r = _e.value
                        break
            else:
                try:
                    _y = next(_i) if _s is None else _i.send(_s)
                except StopIteration as _e:
                    _r = _e.value
                    break
    return _r


def _variant(on_exit):
    """The expansion with another GeneratorExit branch ``on_exit(_i, _e)``."""
    def expansion(subiterable):
        _i = iter(subiterable)
        try:
            _y = next(_i)
        except StopIteration as _e:
            return _e.value
        while True:
            try:
                _s = yield _y
            except GeneratorExit as _e:
                on_exit(_i, _e)
                raise _e
            except BaseException as _e:
                if not hasattr(_i, "throw"):
                    raise _e
                try:
                    _y = _i.throw(_e)
                except StopIteration as _stop:
                    return _stop.value
            else:
                try:
                    _y = next(_i) if _s is None else _i.send(_s)
                except StopIteration as _stop:
                    return _stop.value
    return expansion


def _forget(_i, _e):
    pass  # never closes the subiterator


def _always_close(_i, _e):
    _i.close()  # AttributeError on an iterator without close()


def _swallow(_i, _e):
    try:
        _i.close()
    except (AttributeError, RuntimeError):
        pass  # hides the subgenerator's RuntimeError


def stub(subiterable):
    """The notebook's stub: the expansion with its close() branch left to the learner."""
    _i = iter(subiterable)
    try:
        _y = next(_i)
    except StopIteration as _e:
        _r = _e.value
    else:
        while True:
            try:
                _s = yield _y
            except GeneratorExit as _e:
                raise NotImplementedError("your close() handling goes here")
            except BaseException as _e:
                try:
                    _m = _i.throw
                except AttributeError:
                    raise _e
                else:
                    try:
                        _y = _m(_e)
                    except StopIteration as _e:
                        _r = _e.value
                        break
            else:
                try:
                    _y = next(_i) if _s is None else _i.send(_s)
                except StopIteration as _e:
                    _r = _e.value
                    break
    return _r


def run_all(tasks):
    queue = deque(tasks.items())
    results = {}
    while queue:
        name, task = queue.popleft()
        try:
            next(task)
        except StopIteration as finished:
            results[name] = finished.value
        else:
            queue.append((name, task))
    return results


def run_one_after_another(tasks):
    results = {}
    for name, task in tasks.items():
        try:
            while True:
                next(task)
        except StopIteration as finished:
            results[name] = finished.value
    return results


def run_without_results(tasks):
    queue = deque(tasks.items())
    results = {}
    while queue:
        name, task = queue.popleft()
        try:
            next(task)
        except StopIteration:
            results[name] = None
        else:
            queue.append((name, task))
    return results


SOLUTIONS = {
    "02.1": collect,
    "02.2": pep380,
    "02.3": run_all,
}

WRONG = {
    "02.1": [collect_with_a_loop, collect_last_only, collect_not_a_generator],
    "02.2": [_variant(_forget), _variant(_always_close), _variant(_swallow), lambda sub: sub],
    "02.3": [run_one_after_another, run_without_results, "run_all"],
}
