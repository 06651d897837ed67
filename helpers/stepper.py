"""Step through any generator by hand, and see where it is paused after each step.

Chapter 01 points this at generators the learner writes. Two layers, so the logic is
tested without a browser and the widget stays a thin skin over it:

    Stepper          the logic: drives one generator with next / send / throw / close,
                     records each press as a Step, and describes the generator's state,
                     current line, locals and source (text for nbval, HTML for the widget)
    StepperWidget    the view: standard ipywidgets (buttons, a text box, a dropdown, an
                     HTML pane), no custom JavaScript; each button calls the Stepper and
                     redraws the pane

For notebooks: ``step_through(gen)`` returns the widget, ready to display; ``Stepper(gen)``
drives a generator from code (``print(stepper)`` after each press).

Nothing a press does can crash the widget: whatever the generator raises, or a press on
a finished generator, becomes a line in the pane (``Step.describe()``); the press that an
exception ends the generator with says so. What the generator prints during a press is
caught and shown under that press (``Step.printed``): a button's callback has no cell to
print into, so without this a generator's ``print`` would vanish in the browser. Only bad
input to the constructor raises (``TypeError`` for anything that is not a generator).
Everything runs in the calling thread; a press blocks until the generator pauses again.
"""

from __future__ import annotations

import ast
import contextlib
import html
import inspect
import io
import reprlib
from collections.abc import Generator
from dataclasses import dataclass
from types import GeneratorType
from typing import Any

__all__ = ["Step", "Stepper", "StepperWidget", "parse_value", "step_through", "THROWABLE"]

# What the widget's "throw" button can throw: ordinary exceptions a generator may catch.
THROWABLE: dict[str, type[BaseException]] = {
    "ValueError": ValueError,
    "KeyError": KeyError,
    "RuntimeError": RuntimeError,
}

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 6


def _brief(value: object) -> str:
    """A short, one-line repr (long strings and containers are cut with '...')."""
    return _short.repr(value)


def _exception(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


@dataclass(frozen=True)
class Step:
    """One press and what came of it.

    ``outcome`` is one of ``"yielded"`` (``value`` is what the generator yielded),
    ``"returned"`` (``value`` is ``StopIteration.value``), ``"raised"`` (``value`` is the
    exception that came out) or ``"closed"`` (``close()`` returned normally).
    ``state`` is :func:`inspect.getgeneratorstate` after the press; ``note`` explains
    presses on a generator that had already finished, and the press that ended it with an
    exception; ``printed`` is what the generator printed during the press.
    """

    action: str
    outcome: str
    value: object
    state: str
    note: str = ""
    printed: str = ""

    @property
    def result(self) -> str:
        """What came out, in short: ``yielded 1``, ``returned 3``, ``raised KeyError: 'k'``, ``closed``."""
        if self.outcome == "raised":
            assert isinstance(self.value, BaseException), "a press that raised records the exception"
            return f"raised {_exception(self.value)}"
        if self.outcome == "closed":
            return "closed"
        return f"{self.outcome} {_brief(self.value)}"

    def describe(self) -> str:
        """The line the learner reads, e.g. ``send(10) -> yielded 10.0``, followed by one line
        ``    printed: ...`` for each line the generator printed during the press."""
        what = self.result
        if self.outcome == "returned":
            what += f" (raised StopIteration, .value = {_brief(self.value)})"
        line = f"{self.action} -> {what}" + (f"  [{self.note}]" if self.note else "")
        return "\n".join([line, *(f"    printed: {printed}" for printed in self.printed.splitlines())])


class Stepper:
    """Drives one generator by hand and describes it after each press.

    ``next()``, ``send(value)``, ``throw(exception)`` and ``close()`` do exactly what the
    generator methods of the same names do, but never raise: each returns the
    :class:`Step` it recorded (also in ``history``). Read the state with ``state``,
    ``line``, ``locals`` and ``source``; ``text()`` and ``html()`` show all of it.
    """

    def __init__(self, generator: Generator) -> None:
        if not inspect.isgenerator(generator):
            hint = " (call the generator function first: gen(), not gen)" \
                if inspect.isgeneratorfunction(generator) else ""
            raise TypeError(f"Stepper needs a generator object, not {type(generator).__name__}"
                            f" {_brief(generator)}{hint}")
        self.generator: GeneratorType[Any, Any, Any] = generator
        self.history: list[Step] = []
        self.name = generator.__qualname__
        try:
            lines, first = inspect.getsourcelines(generator.gi_code)
        except (OSError, TypeError):
            lines, first = [], generator.gi_code.co_firstlineno
        self._source = [(first + offset, line.rstrip("\n")) for offset, line in enumerate(lines)]

    # ------------------------------------------------------------------ presses
    def next(self) -> Step:
        """Press ``next()``: run until the next ``yield``, ``return`` or exception."""
        return self._press("next()", lambda: next(self.generator))

    def send(self, value: object) -> Step:
        """Press ``send(value)``: resume, with ``value`` as the result of the paused ``yield``."""
        return self._press(f"send({_brief(value)})", lambda: self.generator.send(value))

    def throw(self, error: BaseException | type[BaseException]) -> Step:
        """Press ``throw(error)``: raise ``error`` inside the generator, at the paused ``yield``."""
        if isinstance(error, type) and issubclass(error, BaseException):
            error = error()
        if not isinstance(error, BaseException):
            raise TypeError(f"throw needs an exception or an exception class, not {_brief(error)}")
        arguments = ", ".join(_brief(argument) for argument in error.args)
        return self._press(f"throw({type(error).__name__}({arguments}))", lambda: self.generator.throw(error))

    def close(self) -> Step:
        """Press ``close()``: raise ``GeneratorExit`` at the paused ``yield`` and let it finish."""
        return self._press("close()", self.generator.close, closing=True)

    def _press(self, action: str, call, closing: bool = False) -> Step:
        finished_before = self.state == "GEN_CLOSED"
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                value = call()
        except StopIteration as stop:
            outcome, value = "returned", stop.value
        except (Exception, GeneratorExit) as error:  # anything the generator lets out
            outcome, value = "raised", error
        else:
            outcome = "closed" if closing else "yielded"
        note = ""
        if outcome == "raised" and not finished_before and self.state == "GEN_CLOSED":
            note = "the exception ended the generator: every later press finds it finished"
        if finished_before:
            note = {
                "returned": "already finished: it raises StopIteration again, nothing ran",
                "raised": "already finished: the exception came straight back out, nothing ran",
                "closed": "already finished: close() does nothing",
            }.get(outcome, "")
        step = Step(action, outcome, value, self.state, note, printed.getvalue())
        self.history.append(step)
        return step

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> str:
        """``inspect.getgeneratorstate``: GEN_CREATED, GEN_SUSPENDED, GEN_RUNNING or GEN_CLOSED."""
        return inspect.getgeneratorstate(self.generator)

    @property
    def line(self) -> int | None:
        """The line the generator is paused at (its ``def`` line before it starts); None when finished."""
        frame = self.generator.gi_frame
        return None if frame is None else frame.f_lineno

    @property
    def locals(self) -> dict[str, object]:
        """The generator's local variables now (empty when finished: its frame is gone)."""
        frame = self.generator.gi_frame
        return {} if frame is None else dict(frame.f_locals)

    @property
    def source(self) -> list[tuple[int, str]]:
        """The generator function's source as (line number, text) pairs; empty if unavailable."""
        return list(self._source)

    def where(self) -> str:
        """Where the generator is, in words."""
        state = self.state
        if state == "GEN_CREATED":
            return "not started: the first next() runs it from the top"
        if state == "GEN_SUSPENDED":
            return f"paused at line {self.line}"
        if state == "GEN_RUNNING":
            return "running"
        return "finished: no frame, no locals"

    # ------------------------------------------------------------------ display
    def text(self) -> str:
        """Everything, as stable plain text: header, last press, source with ``->`` at the
        current line, locals."""
        lines = [f"generator {self.name}: {self.state}, {self.where()}"]
        if self.history:
            lines.append(f"last press: {self.history[-1].describe()}")
        for number, code in self._source:
            marker = "->" if number == self.line else "  "
            lines.append(f"{marker} {number:>3}  {code}".rstrip())
        if not self._source:
            lines.append("   (source not available)")
        local_vars = self.locals
        shown = ", ".join(f"{name}={_brief(value)}" for name, value in local_vars.items())
        lines.append(f"locals: {shown or '(none)'}")
        return "\n".join(lines)

    def html(self) -> str:
        """The same as :meth:`text`, as HTML: the current line highlighted, a press log."""
        state_colour = {"GEN_CREATED": "#555", "GEN_SUSPENDED": "#1565c0",
                        "GEN_RUNNING": "#2e7d32", "GEN_CLOSED": "#b71c1c"}[self.state]
        parts = [f"<div><b>generator <code>{html.escape(self.name)}</code></b>: "
                 f"<b style='color:{state_colour}'>{self.state}</b>, {html.escape(self.where())}</div>"]
        rows = []
        for number, code in self._source:
            style = " style='background:#fff59d;font-weight:bold'" if number == self.line else ""
            rows.append(f"<span{style}>{number:>3}  {html.escape(code) or ' '}</span>")
        listing = "\n".join(rows) if rows else "(source not available)"
        parts.append(f"<pre style='margin:4px 0;line-height:1.3'>{listing}</pre>")
        local_vars = self.locals
        if local_vars:
            cells = "".join(f"<tr><td><code>{html.escape(name)}</code></td>"
                            f"<td><code>{html.escape(_brief(value))}</code></td></tr>"
                            for name, value in local_vars.items())
            parts.append(f"<div>locals:</div><table>{cells}</table>")
        else:
            parts.append("<div>locals: (none)</div>")
        if self.history:
            log = "".join(f"<li>{_code_lines(step.describe())}</li>" for step in self.history[-8:])
            parts.append(f"<div>presses (latest last):</div><ol start='{max(len(self.history) - 7, 1)}'>{log}</ol>")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Stepper of {self.name}: {self.state}, {len(self.history)} presses>"


def _code_lines(text: str) -> str:
    """``text`` as HTML code, one line per line (the generator's prints under the press)."""
    return "<br>".join(f"<code>{html.escape(line).replace('  ', ' &nbsp;')}</code>" for line in text.splitlines())


def parse_value(text: str) -> object:
    """Read the widget's send box as a Python literal: ``10``, ``'tea'``, ``None``, ``[1, 2]``.

    An empty box means None. Anything else raises ValueError saying how to write it.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_value reads text, not {type(text).__name__}")
    if not text.strip():
        return None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"cannot read {text.strip()!r} as a Python value: write a literal such as "
                         f"10, 2.5, None, [1, 2] or '{text.strip()}' with quotes for a string") from None


def _widgets():
    import ipywidgets  # imported here: the logic above works without it

    return ipywidgets


class StepperWidget:
    """The view: buttons next() / send(value) / throw(...) / close() and a pane showing the
    :class:`Stepper`'s state, redrawn after each press. Standard ipywidgets only.

    Display it as the last expression of a cell (``step_through(gen)``). Its text form
    (what nbval compares and what a notebook shows before it is run) is the stepper's
    state when the widget was created. ``press(name)`` does what clicking does.
    """

    def __init__(self, generator: Generator) -> None:
        self.stepper = Stepper(generator)  # TypeError for bad input, before any widget exists
        w = _widgets()
        self._initial_text = self.stepper.text()
        self.buttons = {
            "next": w.Button(description="next()", tooltip="run to the next yield"),
            "send": w.Button(description="send(value)", tooltip="resume with the value in the box"),
            "throw": w.Button(description="throw(...)", tooltip="raise the chosen exception at the yield"),
            "close": w.Button(description="close()", tooltip="raise GeneratorExit at the yield"),
        }
        self.value_box = w.Text(value="", placeholder="value to send, e.g. 10", description="value:",
                                layout=w.Layout(width="16em"))
        self.exception_choice = w.Dropdown(options=list(THROWABLE), value="ValueError",
                                           description="exception:", layout=w.Layout(width="16em"))
        self.message = w.HTML(value="")
        self.pane = w.HTML(value=self.stepper.html())
        for name, button in self.buttons.items():
            button.on_click(lambda _button, name=name: self.press(name))
        self.box = w.VBox([
            w.HBox(list(self.buttons.values())),
            w.HBox([self.value_box, self.exception_choice]),
            self.message,
            self.pane,
        ])

    def press(self, name: str) -> Step | None:
        """Do what clicking button ``name`` ("next", "send", "throw", "close") does; redraw."""
        if name not in self.buttons:
            raise ValueError(f"no button {name!r}; the buttons are {', '.join(self.buttons)}")
        step: Step | None = None
        if name == "send":
            try:
                value = parse_value(self.value_box.value)
            except ValueError as error:
                self.message.value = f"<b>not sent</b>: {html.escape(str(error))}"
                return None
            step = self.stepper.send(value)
        elif name == "throw":
            exception = THROWABLE[self.exception_choice.value]
            step = self.stepper.throw(exception("thrown in by the stepper"))
        else:
            step = getattr(self.stepper, name)()
        self.message.value = _code_lines(step.describe())
        self.pane.value = self.stepper.html()
        return step

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self._initial_text
        return bundle

    def __repr__(self) -> str:
        return f"<StepperWidget of {self.stepper.name}: {self.stepper.state}>"


def step_through(generator: Generator) -> StepperWidget:
    """A widget to step through ``generator`` by hand (display it as a cell's last line)."""
    return StepperWidget(generator)
