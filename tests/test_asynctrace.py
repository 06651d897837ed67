import asyncio
import socket
import types

import pytest

from helpers.asynctrace import LoopRecorder, VirtualClockLoop, loop_errors, trace_tasks
from helpers.trace import Bar, Tracer, segments


def lines(tracer):
    """The trace as (task, kind, detail) triples: what the tests compare."""
    return [(event.task, event.kind, event.detail) for event in tracer.events]


def traced(program, names=None):
    """Run ``program()`` (an async function) inside trace_tasks in a fresh loop; return the tracer."""
    tracer = Tracer()

    async def main():
        with trace_tasks(tracer, names):
            await program()

    asyncio.run(main())
    return tracer


async def ping(n):
    for _ in range(n):
        await asyncio.sleep(0)
    return n


def test_two_tasks_ping_pong_with_sleep_zero():
    async def program():
        await asyncio.gather(asyncio.create_task(ping(2), name="ping"), asyncio.create_task(ping(1), name="pong"))

    assert traced(program).text() == "\n".join([
        " 1  ping  spawn",
        " 2  pong  spawn",
        " 3  ping  run",
        " 4  ping  pause  sleep(0)",
        " 5  pong  run",
        " 6  pong  pause  sleep(0)",
        " 7  ping  run",
        " 8  ping  pause  sleep(0)",
        " 9  pong  run",
        "10  pong  exit   returned 1",
        "11  ping  run",
        "12  ping  exit   returned 2",
    ])


async def bob():
    await asyncio.sleep(0.01)
    return 3


async def alice():
    return await asyncio.create_task(bob(), name="bob") * 2


def test_a_task_awaiting_another_waits_on_it_by_name():
    async def program():
        assert await asyncio.create_task(alice(), name="alice") == 6

    assert lines(traced(program)) == [
        ("alice", "spawn", ""),
        ("alice", "run", ""),
        ("bob", "spawn", "by alice"),
        ("alice", "wait", "task 'bob'"),
        ("bob", "run", ""),
        ("bob", "wait", "sleep"),
        ("bob", "run", ""),
        ("bob", "exit", "returned 3"),
        ("alice", "run", ""),
        ("alice", "exit", "returned 6"),
    ]


def test_gather_gets_automatic_names_in_order_of_creation():
    async def parent():
        return await asyncio.gather(ping(1), bob())

    async def program():
        assert await asyncio.create_task(parent(), name="parent") == [1, 3]

    assert lines(traced(program)) == [
        ("parent", "spawn", ""),
        ("parent", "run", ""),
        ("task 1", "spawn", "by parent"),
        ("task 2", "spawn", "by parent"),
        ("parent", "wait", "gather"),
        ("task 1", "run", ""),
        ("task 1", "pause", "sleep(0)"),
        ("task 2", "run", ""),
        ("task 2", "wait", "sleep"),
        ("task 1", "run", ""),
        ("task 1", "exit", "returned 1"),
        ("task 2", "run", ""),
        ("task 2", "exit", "returned 3"),
        ("parent", "run", ""),
        ("parent", "exit", "returned [1, 3]"),
    ]


def test_a_task_that_raises_and_its_error_reaches_the_awaiter_unchanged():
    error = ValueError("boom")
    caught = []

    async def fails():
        await asyncio.sleep(0)
        raise error

    async def program():
        try:
            await asyncio.create_task(fails(), name="fails")
        except ValueError as seen:
            caught.append(seen)

    assert lines(traced(program))[-2:] == [("fails", "run", ""), ("fails", "exit", "raised ValueError")]
    assert caught == [error] and caught[0] is error


def test_cancellation_is_a_throw_then_cancelled():
    async def sleeper():
        await asyncio.sleep(30)

    async def program():
        task = asyncio.create_task(sleeper(), name="sleeper")
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert lines(traced(program)) == [
        ("sleeper", "spawn", ""),
        ("sleeper", "run", ""),
        ("sleeper", "wait", "sleep"),
        ("sleeper", "run", "throw CancelledError"),
        ("sleeper", "exit", "cancelled"),
    ]


def test_what_a_task_waits_on_is_named():
    async def program():
        queue, event, lock = asyncio.Queue(), asyncio.Event(), asyncio.Lock()
        left, right = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=left)

        async def get():
            return await queue.get()

        async def read():
            return await reader.readline()

        async def locked():
            async with lock:
                return "got it"

        async def timed():
            return await asyncio.wait_for(event.wait(), 30)

        @types.coroutine
        def bare():
            yield

        async def yields():
            await bare()

        try:
            async with lock:
                tasks = [asyncio.create_task(coro) for coro in (get(), read(), locked(), timed(), yields())]
                await asyncio.sleep(0)
            queue.put_nowait(1)
            right.sendall(b"line\n")
            event.set()
            await asyncio.gather(*tasks)
        finally:
            writer.close()
            right.close()
            await writer.wait_closed()

    waits = [(task, detail) for task, kind, detail in lines(traced(program)) if kind in ("wait", "pause")]
    assert waits[:5] == [("task 1", "Queue.get"), ("task 2", "StreamReader.readline"), ("task 3", "Lock.acquire"),
                         ("task 4", "wait_for"), ("task 5", "yield")]


def test_names_are_the_same_on_every_run_and_can_be_given():
    async def program():
        await asyncio.gather(ping(1), ping(1), asyncio.create_task(ping(1), name="named"), ping(1))

    first, second = traced(program), traced(program)
    assert first.text() == second.text()
    assert first.tasks() == ["named", "task 1", "task 2", "task 3"]  # the arguments are made before gather's tasks
    assert traced(program, ["a", "b"]).tasks() == ["named", "a", "b", "task 1"]

    seen = []

    def by_coroutine(task):  # None: the usual rules (here: the given name)
        seen.append(task)
        return None if task.get_name() == "named" else f"{task.get_coro().__qualname__} #{len(seen)}"

    assert traced(program, by_coroutine).tasks() == ["named", "ping #2", "ping #3", "ping #4"]


@pytest.mark.parametrize("names, error", [("ab", TypeError), (42, TypeError), (["a", ""], ValueError),
                                          (["a", None], ValueError)])
def test_bad_names_are_rejected_at_once(names, error):
    with pytest.raises(error):
        trace_tasks(Tracer(), names)


def test_a_failing_names_function_is_raised_when_the_block_ends_not_inside_the_tasks():
    tracer, results = Tracer(), []

    def names(task):
        raise KeyError("no name for you")

    async def main():
        with trace_tasks(tracer, names):
            results.extend(await asyncio.gather(ping(1), ping(2)))

    with pytest.raises(KeyError, match="no name for you"):
        asyncio.run(main())
    assert results == [1, 2]  # the traced code ran to the end
    assert tracer.tasks() == ["task 1", "task 2"]


def test_bad_tracer_and_no_running_loop():
    with pytest.raises(TypeError):
        trace_tasks("tracer")
    with pytest.raises(RuntimeError, match="running event loop"):
        with trace_tasks(Tracer()):
            pass


def test_factory_is_restored_and_an_error_inside_the_block_propagates_unchanged():
    error = ValueError("inside")
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(ValueError) as raised:
            with trace_tasks(Tracer()):
                seen["inside"] = loop.get_task_factory()
                await asyncio.create_task(ping(1))
                raise error
        seen["error"] = raised.value
        seen["after"] = loop.get_task_factory()

    asyncio.run(main())
    assert seen["inside"] is not None and seen["after"] is None
    assert seen["error"] is error


def test_a_previous_custom_factory_is_chained_and_restored():
    made = []

    def factory(loop, coro, **kwargs):
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    tracer = Tracer()

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(factory)
        with trace_tasks(tracer):
            assert await asyncio.create_task(ping(1), name="p") == 1
        assert loop.get_task_factory() is factory
        loop.set_task_factory(None)

    asyncio.run(main())
    assert len(made) == 1 and [task for task, _, _ in lines(tracer)] == ["p"] * 5


def test_blocks_nest_and_the_inner_restores_the_outer():
    outer, inner = Tracer(), Tracer()

    async def main():
        loop = asyncio.get_running_loop()
        with trace_tasks(outer) as outer_block:
            await asyncio.create_task(ping(1), name="before")
            with trace_tasks(inner):
                await asyncio.create_task(alice(), name="alice")
            assert loop.get_task_factory() == outer_block._factory
            await asyncio.create_task(ping(1), name="after")
        assert loop.get_task_factory() is None

    asyncio.run(main())
    assert inner.tasks() == ["alice", "bob"]
    assert outer.tasks() == ["before", "alice", "bob", "after"]
    assert lines(inner) == [line for line in lines(outer) if line[0] in ("alice", "bob")]


def test_tasks_made_before_the_block_are_untouched_and_tasks_after_it_go_untraced():
    tracer = Tracer()

    async def slow():
        await asyncio.sleep(0.05)
        await asyncio.sleep(0)
        return "late"

    async def main():
        early = asyncio.create_task(ping(3), name="early")
        with trace_tasks(tracer):
            late = asyncio.create_task(slow(), name="late")
            await asyncio.sleep(0)
        assert await early == 3 and await late == "late"

    asyncio.run(main())
    assert lines(tracer) == [("late", "spawn", ""), ("late", "run", ""), ("late", "wait", "sleep")]


def test_only_the_traced_programs_tasks_are_traced():
    tracer = Tracer()
    go = asyncio.Event()

    async def bystander():  # like a kernel's message loop: made before the block, makes tasks during it
        await go.wait()
        await asyncio.create_task(ping(1), name="not mine")

    def callback():  # like a server's connection handler: a callback makes a task
        asyncio.ensure_future(ping(1))

    async def main():
        older = asyncio.create_task(bystander())
        await asyncio.sleep(0)
        with trace_tasks(tracer):
            go.set()
            asyncio.get_running_loop().call_soon(callback)
            await asyncio.create_task(alice(), name="alice")
            await older
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            await task

    asyncio.run(main())
    assert tracer.tasks() == ["alice", "task 1", "bob"]  # the callback ran before alice's first step


def test_tasks_still_look_like_tasks():
    async def main():
        with trace_tasks(Tracer()):
            task = asyncio.create_task(ping(1), name="p")
            assert "ping" in repr(task) and asyncio.iscoroutine(task.get_coro())
            await task
            with pytest.raises(TypeError):
                asyncio.get_running_loop().create_task(ping)  # not a coroutine: rejected as usual

    asyncio.run(main())


def test_a_traced_program_draws_waiting_and_ready_stretches():
    async def program():
        await asyncio.create_task(alice(), name="alice")

    states = {(bar.task, bar.state) for bar in segments(traced(program).events)}
    assert ("alice", "waiting") in states and ("bob", "waiting") in states and ("bob", "ready") in states
    assert ("alice", "ready") in states


# A home-made loop: generator tasks yield ("sleep", seconds) or nothing.

def tiny_loop(tasks, recorder):
    ready = list(tasks.items())
    for name, _ in ready:
        recorder.spawn(name)
    while ready:
        name, task = ready.pop(0)
        try:
            with recorder.step(name):
                request = next(task)
                if request is not None:
                    recorder.wait(name, f"{request[0]} {request[1]} s")
        except StopIteration:
            continue
        except ValueError:
            continue
        ready.append((name, task))


def worker(n, fail=False):
    for _ in range(n):
        yield ("sleep", 0)
        yield
    if fail:
        raise ValueError("bad")
    return n


def test_loop_recorder_turns_a_home_made_loop_into_events():
    tracer = Tracer()
    tiny_loop({"w": worker(1), "f": worker(0, fail=True)}, LoopRecorder(tracer))
    assert lines(tracer) == [
        ("w", "spawn", ""),
        ("f", "spawn", ""),
        ("w", "run", ""),
        ("w", "wait", "sleep 0 s"),
        ("f", "run", ""),
        ("f", "exit", "raised ValueError"),
        ("w", "run", ""),
        ("w", "pause", ""),
        ("w", "run", ""),
        ("w", "exit", "returned 1"),
    ]


def test_loop_recorder_done_inside_a_step_and_errors_never_raise():
    tracer = Tracer()
    recorder = LoopRecorder(tracer)
    with recorder.step("a", "first"):
        recorder.done("a", "finished early")
    recorder.spawn("")  # a bad name: collected, not raised
    with recorder.step(""):
        pass
    recorder.wait(None, "read")
    assert lines(tracer) == [("a", "run", "first"), ("a", "exit", "finished early")]
    assert len(recorder.errors) == 4 and all(isinstance(error, ValueError) for error in recorder.errors)
    with pytest.raises(TypeError):
        LoopRecorder(object())


def test_loop_recorder_steps_draw_as_running_bars():
    tracer = Tracer()
    tiny_loop({"w": worker(1)}, LoopRecorder(tracer))
    assert [bar for bar in segments(tracer.events) if bar.state == "running"] == [
        Bar("w", 2, 3), Bar("w", 4, 5), Bar("w", 6, 7)]


def test_virtual_clock_loop_runs_timers_in_heap_order_without_waiting():
    loop = VirtualClockLoop()
    try:
        ran = []
        for delay in (4, 2, 3, 1):
            handle = loop.call_later(delay, ran.append, delay)
            if delay == 3:
                handle.cancel()
        loop.call_later(3.5, loop.stop)
        loop.run_forever()
        assert ran == [1, 2]
        assert loop.time() == 3.5
        assert loop.waits == [1.0, 1.0, 1.5]  # the cancelled timer is dropped, never waited for
    finally:
        loop.close()


def test_virtual_clock_loop_waits_at_most_a_day_at_a_time_and_runs_coroutines():
    loop = VirtualClockLoop()
    try:
        ran = []
        loop.call_later(3 * 86400, ran.append, "late")
        loop.call_later(3 * 86400, loop.stop)
        loop.run_forever()
        assert ran == ["late"] and loop.time() == 3 * 86400
        assert max(wait for wait in loop.waits if wait is not None) == 86400

        async def nap():
            await asyncio.sleep(60)
            return asyncio.get_running_loop().time()

        assert loop.run_until_complete(nap()) == 3 * 86400 + 60
    finally:
        loop.close()


def test_virtual_clock_loop_refuses_to_wait_forever():
    loop = VirtualClockLoop()
    try:
        with pytest.raises(RuntimeError, match="wait forever"):
            loop.run_until_complete(loop.create_future())
    finally:
        loop.close()


def test_loop_errors_keeps_stable_lines_and_restores_the_handler():
    import gc

    def previous(loop, context):
        pass

    async def boom():
        raise ValueError("lost")

    async def forever():
        await asyncio.get_running_loop().create_future()

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(previous)
        with loop_errors() as reported:
            task = asyncio.create_task(boom())
            await asyncio.sleep(0)
            del task
            gc.collect()
            task = asyncio.create_task(forever())
            await asyncio.sleep(0)
            del task
            gc.collect()
        assert loop.get_exception_handler() is previous
        return reported

    assert asyncio.run(main()) == ["Task exception was never retrieved: ValueError",
                                   "Task was destroyed but it is pending!"]
