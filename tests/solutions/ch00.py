"""Reference solutions (and answers that must fail) for chapter 00's exercises."""

from helpers.checks.ch00 import steps


def make_tasks():
    return {"alice": steps("alice", 3), "bob": steps("bob", 1), "carol": steps("carol", 2)}


def same_length():
    return {"alice": steps("alice", 2), "bob": steps("bob", 2), "carol": steps("carol", 2)}


def wrong_names():
    return {"ann": steps("ann", 3), "bob": steps("bob", 1), "carol": steps("carol", 2)}


SOLUTIONS = {
    "00.1": ["a", "b", "c", "a", "b", "c", "a", "c", "a"],
    "00.2": make_tasks,
}

WRONG = {
    "00.1": [
        ["a", "b", "c", "a", "b", "c", "a", "c"],            # forgets a's last turn
        ["a", "b", "c", "a", "c", "a", "c", "a", "b"],        # b finishing last
        ["a", "a", "a", "b", "c", "c"],                       # no switching at all
        "abcabcaca",                                          # not a list
    ],
    "00.2": [same_length, wrong_names, make_tasks()],        # last one: not a function
}


# The chapter's own code, reproduced as an answer: it must not pass (the exercise needs a new idea).
def chapter_cooks():  # cell "two cooks, one stove": alice with two dishes, bob with one
    return {"alice": steps("alice", 2), "bob": steps("bob", 1)}


CHAPTER_CODE = {
    "00.1": [["alice", "bob", "alice", "bob", "alice"]],  # the order the chapter's cooks ran in
    "00.2": [chapter_cooks],
}
