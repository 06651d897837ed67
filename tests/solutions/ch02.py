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
    """PEP 380's expansion, runnable (tests/test_pep380.py compares it with real `yield from`)."""
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


def session(sub, log):
    log.append("open")
    try:
        result = yield from sub
        return result
    finally:
        log.append("closed")


def session_with_a_loop(sub, log):
    log.append("open")
    try:
        for value in sub:  # send() never reaches sub: it gets None and returns at once
            yield value
    finally:
        log.append("closed")


def session_closed_only_on_close(sub, log):
    log.append("open")
    try:
        result = yield from sub
    except GeneratorExit:
        log.append("closed")
        raise
    return result  # returned or raised: no "closed"


def session_forgets_the_result(sub, log):
    log.append("open")
    try:
        yield from sub
    finally:
        log.append("closed")


def session_closes_first(sub, log):
    """Forwards everything by hand, but on close() logs "closed" before the worker cleans up."""
    log.append("open")
    value = next(sub)
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            log.append("closed")
            sub.close()
            raise
        except BaseException as error:
            try:
                value = sub.throw(error)
            except StopIteration as stop:
                log.append("closed")
                return stop.value
            except BaseException:
                log.append("closed")
                raise
            continue
        try:
            value = sub.send(sent)
        except StopIteration as stop:
            log.append("closed")
            return stop.value


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
    "02.2": session,
    "02.3": run_all,
}

WRONG = {
    "02.1": [collect_with_a_loop, collect_last_only, collect_not_a_generator],
    "02.2": [session_with_a_loop, session_closed_only_on_close, session_forgets_the_result,
             session_closes_first, lambda sub, log: sub, "session"],
    "02.3": [run_one_after_another, run_without_results, "run_all"],
}


# The chapter's own code, reproduced as an answer: it must not pass (the exercise needs a new idea).
def chapter_with_yield_from(lists):  # "yield every item of each inner one"
    for inner in lists:
        yield from inner


def chapter_real(sub, log):  # the real delegator of the PEP 380 table
    return (yield from sub)


class ChapterScheduler:  # the round-robin scheduler, as the chapter writes it (without its tracer)
    def __init__(self):
        self.ready = deque()

    def spawn(self, name, task):
        self.ready.append((name, task))

    def run(self):
        while self.ready:
            name, task = self.ready.popleft()
            try:
                next(task)
            except StopIteration:
                pass
            else:
                self.ready.append((name, task))


def chapter_scheduler_run(tasks):
    scheduler = ChapterScheduler()
    for name, task in tasks.items():
        scheduler.spawn(name, task)
    return scheduler.run()


CHAPTER_CODE = {
    "02.1": [chapter_with_yield_from],
    "02.2": [chapter_real],
    "02.3": [chapter_scheduler_run],
}
