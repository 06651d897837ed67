"""Reference solutions (and answers that must fail) for chapter 01's exercises."""


def running_average():
    total = count = 0
    average = None
    while True:
        number = yield average
        total += number
        count += 1
        average = total / count


def average_of_last_two():
    previous = average = None
    while True:
        number = yield average
        average = number if previous is None else (previous + number) / 2
        previous = number


_shared = {"total": 0, "count": 0}


def shared_average():
    average = None
    while True:
        number = yield average
        _shared["total"] += number
        _shared["count"] += 1
        average = _shared["total"] / _shared["count"]


def average_list(numbers=()):
    return sum(numbers) / max(len(numbers), 1)


class Countdown:
    def __init__(self, start):
        self.current = start

    def __iter__(self):
        return self

    def __next__(self):
        if self.current < 1:
            raise StopIteration
        self.current -= 1
        return self.current + 1


class CountdownToZero(Countdown):
    def __next__(self):
        if self.current < 0:
            raise StopIteration
        self.current -= 1
        return self.current + 1


class IterableOnly:
    """Iterable but not an iterator: no __next__."""

    def __init__(self, start):
        self.start = start

    def __iter__(self):
        return iter(range(self.start, 0, -1))


class GeneratorInside:
    """Looks like a class, but Countdown(3) is really a generator."""

    def __new__(cls, start):
        return (n for n in range(start, 0, -1))


def tab():
    orders = []
    while (order := (yield len(orders))) is not None:
        orders.append(order)
    return orders


def tab_returns_count():
    orders = []
    while (order := (yield len(orders))) is not None:
        orders.append(order)
    return len(orders)


def tab_never_ends():
    orders = []
    while True:
        order = yield len(orders)
        if order is not None:
            orders.append(order)


def tab_yields_list():
    orders = []
    while (order := (yield orders)) is not None:
        orders.append(order)
    return orders


SOLUTIONS = {
    "01.1": running_average,
    "01.2": Countdown,
    "01.3": tab,
}

WRONG = {
    "01.1": [average_of_last_two, shared_average, average_list, running_average()],
    "01.2": [CountdownToZero, IterableOnly, GeneratorInside, Countdown(3)],
    "01.3": [tab_returns_count, tab_never_ends, tab_yields_list, tab()],
}


# The chapter's own code, reproduced as an answer: it must not pass (the exercise needs a new idea).
def chapter_running_total():  # the running total fed with send (without its @primed)
    total = 0
    while True:
        total += yield total


class ChapterFibonacci:  # the hand-written iterator class
    def __init__(self, limit):
        self.limit = limit
        self.a, self.b = 0, 1

    def __iter__(self):
        return self

    def __next__(self):
        if self.a >= self.limit:
            raise StopIteration
        value = self.a
        self.a, self.b = self.b, self.a + self.b
        return value


def chapter_careful_total():  # send and throw: a total that skips bad values
    total = 0
    while True:
        try:
            number = yield total
        except ValueError:
            continue
        total += number


CHAPTER_CODE = {
    "01.1": [chapter_running_total],
    "01.2": [ChapterFibonacci],
    "01.3": [chapter_careful_total],
}
