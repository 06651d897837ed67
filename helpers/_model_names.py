"""Chapter 11's models, named in one place: what each measurement calls them and how the names meet.

Who reads it: ``helpers.showdown`` (sleepers, switch costs, the closing map), ``helpers.echobench``
(the echo bench) and ``helpers.checks.ch11`` (exercise 11.3 accepts these names). Notebooks do
not import it: they print ``showdown.MODELS`` and ``echobench.MODELS``, which are these tuples.

Two families of names, kept because chapter 11's stored outputs print both:

    MODELS        the ways of running code side by side, one sleeper each ("thread", "select loop");
                  the chapter's own names, and the names exercise 11.3 accepts
    ECHO_SERVERS  the echo bench's servers, named for what they hold per connection ("threads": a
                  thread per connection; "forking": a fork per connection; "processes": chapter 10's
                  pre-forked fleet), each mapped to the model it serves with

They differ because they are not the same things: two servers ("forking", "processes") run on
processes in different ways, and a server's name says how many of the model it holds. So the
map below is the one place where a server's name meets its model's; nothing else spells the pairs.
The child programs that run them (``helpers/children/showdown.py``, ``helpers/children/echo_server.py``)
accept the same names: ``tests/test_showdown.py`` and ``tests/test_echobench.py`` run every one.
"""

from __future__ import annotations

__all__ = ["ECHO_SERVERS", "KIND", "MODELS", "SERVED_BY", "SWITCH_MODELS", "kind"]

# The sleepers' models, in the order chapter 11 prints them.
MODELS = ("generator", "select loop", "home loop", "asyncio", "uvloop", "greenlet", "gevent", "thread", "process")
# The models with a round trip of their own (a select loop and gevent add nothing to the loops they are).
SWITCH_MODELS = ("generator", "greenlet", "home loop", "asyncio", "uvloop", "thread", "process")
# What one of a model is, in the plural a sentence uses ("threads"); every other model runs coroutines.
KIND = {"thread": "threads", "process": "processes"}
# The echo bench's servers, in the order it prints them -> the model each serves its connections with.
SERVED_BY = {
    "threads": "thread", "forking": "process", "processes": "process", "gevent": "gevent",
    "select": "select loop", "homeloop": "home loop", "asyncio": "asyncio", "uvloop": "uvloop",
}
ECHO_SERVERS = tuple(SERVED_BY)


def kind(model: str) -> str:
    """"threads", "processes" or "coroutines": what one of ``model`` is."""
    return KIND.get(model, "coroutines")
