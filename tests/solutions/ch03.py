"""Reference solutions (and answers that must fail) for chapter 03's exercises."""

import greenlet


def ping_pong(rounds):
    values = []

    def ping():
        value = 1
        for _ in range(rounds):
            values.append(value)
            value = pong.switch(value)  # pong answers value + 1
            values.append(value)
            value += 1

    def pong(value):
        while True:
            value = ping.switch(value + 1)

    ping, pong = greenlet.greenlet(ping), greenlet.greenlet(pong)
    ping.switch()
    return values


def no_greenlets(rounds):
    return list(range(1, 2 * rounds + 1))


def off_by_one(rounds):
    return ping_pong(rounds)[:-1]


class Leaves:
    def __init__(self, tree):
        self.consumer = greenlet.getcurrent()
        self.walker = greenlet.greenlet(self.walk)
        self.tree = tree

    def walk(self):
        self.visit(self.tree)
        raise StopIteration  # reaches the consumer's switch() as a StopIteration

    def visit(self, node):
        if isinstance(node, list):
            for child in node:
                self.visit(child)
        else:
            self.consumer.switch(node)  # from however deep the recursion is

    def __iter__(self):
        return self

    def __next__(self):
        self.consumer = greenlet.getcurrent()
        self.walker.parent = self.consumer
        return self.walker.switch()


def eager(tree):
    found = []

    def visit(node):
        if isinstance(node, list):
            for child in node:
                visit(child)
        else:
            found.append(node)

    walker = greenlet.greenlet(lambda: visit(tree))
    walker.switch()
    return iter(found)


def generator(tree):
    if isinstance(tree, list):
        for child in tree:
            yield from generator(child)
    else:
        yield tree


SOLUTIONS = {
    "03.1": ping_pong,
    "03.2": ["first: a", "second: x", "first: b", "second: y", "main: done"],
    "03.3": Leaves,
}

WRONG = {
    "03.1": [no_greenlets, off_by_one, ping_pong(2)],
    "03.2": [
        ["first: a", "second: x", "first: b", "second: y", "first: c", "main: done"],
        ["first: a", "first: b", "first: c", "second: x", "second: y", "main: done"],
        ["first: a", "second: x", "first: b", "second: y"],
        "first: a",
    ],
    "03.3": [eager, generator, lambda tree: iter([])],
}


# The chapter's own code, reproduced as an answer: it must not pass (the exercise needs a new idea).
def chapter_doubler(rounds):  # main and one greenlet passing values through switch()
    main = greenlet.getcurrent()

    def doubler(first):
        second = main.switch(first * 2)
        return second * 2

    worker = greenlet.greenlet(doubler)
    return [worker.switch(5), worker.switch(10)]


def chapter_flatten(tree):  # the recursive walk of chapter 02, with generators
    if isinstance(tree, list):
        for inner in tree:
            yield from chapter_flatten(inner)
    else:
        yield tree


CHAPTER_CODE = {
    "03.1": [chapter_doubler],
    "03.2": [["a: switching to b", "b: returning", "main got \"b's result\""]],  # the parent cell's print order
    "03.3": [chapter_flatten],
}
