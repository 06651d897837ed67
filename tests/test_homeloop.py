"""helpers.homeloop: chapter 06's finished loop: futures, tasks, sockets, deadline, close, trace."""

from __future__ import annotations

import asyncio
import socket
import time
import types

import pytest

from helpers import homeloop
from helpers.asynctrace import LoopRecorder, trace_tasks
from helpers.homeloop import Future, Loop, LoopDeadline, Task
from helpers.swarm import echo_payloads, swarm
from helpers.trace import Tracer


def test_future_schedules_its_callbacks_instead_of_calling_them():
    with Loop() as loop:
        future, seen = Future(loop), []
        future.add_done_callback(lambda f: seen.append(f.result()))
        with pytest.raises(RuntimeError, match="not ready"):
            future.result()
        future.set_result(3)
        assert seen == [] and len(loop.ready) == 1
        loop.run_once(0)
        assert seen == [3]
        with pytest.raises(RuntimeError, match="already done"):
            future.set_result(4)
        future.add_done_callback(lambda f: seen.append("late"))  # already done: scheduled at once
        loop.run_once(0)
        assert seen == [3, "late"]


def test_future_outside_a_loop_needs_one():
    with pytest.raises(RuntimeError, match="no home-made loop is running"):
        Future()
    with pytest.raises(RuntimeError, match="no home-made loop"):
        homeloop.get_loop()


def test_tasks_return_raise_and_await_each_other():
    async def double(x):
        return 2 * x

    async def fail():
        raise ValueError("boom")

    async def main():
        assert homeloop.get_loop() is loop
        value = await Task(double(21))
        try:
            await Task(fail())
        except ValueError as error:
            return value, str(error)

    with Loop() as loop:
        assert loop.run_until_complete(main()) == (42, "boom")
        assert loop.tasks == set()
    with Loop() as loop, pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(fail())


def test_generator_tasks_and_bare_yield():
    @types.coroutine
    def let_others_run():
        yield

    def gen(box):  # step 3 style: yield the future itself
        value = yield box
        return value + 1

    async def main():
        box = Future()
        task = Task(gen(box), "gen")
        await let_others_run()
        box.set_result(1)
        return await task

    with Loop() as loop:
        assert loop.run_until_complete(main()) == 2


def test_yielding_something_else_throws_asyncios_runtime_error_into_the_task():
    @types.coroutine
    def wrong():
        yield 42

    async def main():
        try:
            await wrong()
        except RuntimeError as error:
            return repr(error)

    with Loop() as loop:
        ours = loop.run_until_complete(main())
    assert ours == "RuntimeError('Task got bad yield: 42')"
    assert ours == asyncio.run(main())  # asyncio's own words


def test_a_task_duck_types_futures_through_asyncios_mark():
    class Foreign:  # not a homeloop.Future, but it carries the mark and the method a Task uses
        _asyncio_future_blocking = False

        def __init__(self):
            self.callbacks = []

        def add_done_callback(self, callback):
            self.callbacks.append(callback)

    foreign = Foreign()

    @types.coroutine
    def wait_for_it():
        return (yield foreign)

    with Loop() as loop:
        task = Task(wait_for_it(), "t", loop)
        loop.run_for(0.01)
        assert task.waiting_for is foreign and foreign.callbacks == [task._wakeup]
        done = Future(loop)
        done.set_result(7)
        foreign.callbacks[0](done)  # "foreign is done", with the result of `done`
        assert loop.run_until_complete(task) == 7
        assert task.waiting_for is None


def test_remove_done_callback_forgets_it():
    with Loop() as loop:
        future, called = Future(loop), []
        future.add_done_callback(called.append)
        future.add_done_callback(called.append)
        assert future.remove_done_callback(called.append) == 2
        assert future.remove_done_callback(called.append) == 0
        future.set_result(1)
        loop.run_for(0.01)
        assert called == []


def test_deadline_stops_a_program_that_never_ends():
    async def forever():
        await Future()

    with Loop() as loop:
        started = time.monotonic()
        with pytest.raises(LoopDeadline, match="deadline of 0.2 s"):
            loop.run_until_complete(forever(), deadline=0.2)
        assert time.monotonic() - started < 2
        assert len(loop.tasks) == 1
    assert loop.tasks == set()  # close() closed the coroutine


def test_close_runs_the_unfinished_tasks_finally_blocks_and_closes_their_sockets():
    near, far = socket.socketpair()
    cleaned = []

    async def reader():
        try:
            with far:
                await homeloop.sock_recv(far, 10)
        finally:
            cleaned.append("finally")

    with near, Loop() as loop:
        far.setblocking(False)
        Task(reader(), "reader", loop)
        loop.run_for(0.05)
        assert cleaned == []
    assert cleaned == ["finally"] and far.fileno() == -1
    assert loop.selector.get_map() is None  # the selector is closed


def test_a_socket_can_wait_to_read_and_to_write_at_once():
    near, far = socket.socketpair()
    with near, far, Loop() as loop:
        near.setblocking(False)
        far.sendall(b"x")
        seen = []
        loop.add_reader(near, seen.append, "read")
        loop.add_writer(near, seen.append, "write")
        loop.run_once(1)  # both are ready: one select, both callbacks
        assert sorted(seen) == ["read", "write"]
        loop.remove_reader(near)
        assert len(loop.selector.get_map()) == 1
        loop.remove_writer(near)
        assert len(loop.selector.get_map()) == 0


def test_echo_server_under_the_swarm_and_nothing_left_running():
    async def echo(client):
        with client:
            while data := await homeloop.sock_recv(client, 65536):
                await homeloop.sock_sendall(client, data)

    async def serve(listener):
        while True:
            client, _ = await homeloop.sock_accept(listener)
            Task(echo(client), "echo")

    with Loop() as loop, socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        Task(serve(listener), "server", loop)
        report = swarm(listener.getsockname(), echo_payloads(50, size=20_000), sleep=loop.run_for, timeout=20)
    assert report.ok, report.text()
    assert loop.tasks == set()


def test_sock_connect_raises_the_connection_error():
    async def connect(address):
        with socket.socket() as sock:
            await homeloop.sock_connect(sock, address)

    with socket.socket() as closed_door, Loop() as loop:
        closed_door.bind(("127.0.0.1", 0))
        with pytest.raises(ConnectionRefusedError):
            loop.run_until_complete(connect(closed_door.getsockname()))


async def _program(spawn, make_future):
    box = make_future()

    async def consumer():
        return 2 * await box

    async def producer():
        box.set_result(21)
        return "set"

    first, second = spawn(consumer(), "consumer"), spawn(producer(), "producer")
    return [await first, await second]


def test_same_trace_text_as_asyncio():
    ours = Tracer()
    with Loop(recorder=LoopRecorder(ours)) as loop:
        assert loop.run_until_complete(Task(_program(Task, Future), "main", loop)) == [42, "set"]

    theirs = Tracer()

    async def run():
        with trace_tasks(theirs):
            return await asyncio.create_task(
                _program(lambda coro, name: asyncio.create_task(coro, name=name),
                         asyncio.get_running_loop().create_future), name="main")

    assert asyncio.run(run()) == [42, "set"]
    assert ours.text() == theirs.text()
    assert "main      wait   task 'consumer'" in ours.text()


def test_two_loops_cannot_run_at_once():
    inner = Loop()

    async def main():
        inner.run_until_complete(Future(inner), deadline=0.1)

    with Loop() as loop, pytest.raises(RuntimeError, match="another home-made loop"):
        loop.run_until_complete(main())
    inner.close()


def test_out_of_descriptors_the_accept_task_lives_on_and_serves_new_clients():
    from tests.hostile import descriptors_exhausted

    async def echo(client):
        with client:
            while data := await homeloop.sock_recv(client, 65536):
                await homeloop.sock_sendall(client, data)

    async def serve(listener):
        while True:
            client, _ = await homeloop.sock_accept(listener)
            Task(echo(client), "echo")

    def clients(address, n):
        socks = [socket.create_connection(address, timeout=10) for _ in range(n)]
        for i, sock in enumerate(socks):
            sock.sendall(f"client {i}\n".encode())
        return socks

    before = sum(homeloop.accept_refused.values())
    with Loop() as loop, socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        server = Task(serve(listener), "server", loop)
        loop.run_for(0.05)
        waiting = [socket.socket() for _ in range(3)]
        try:
            with descriptors_exhausted():
                for sock in waiting:
                    sock.settimeout(10)
                    sock.connect(listener.getsockname())
                started = time.process_time()
                loop.run_for(0.5)
                cpu = time.process_time() - started
            assert not server.done(), "the accept task died"
            assert cpu < 0.25, f"the loop spun: {cpu:.2f} s of CPU in 0.5 s"
            assert sum(homeloop.accept_refused.values()) - before == 3
            for sock in waiting:  # closed at once, not left hanging
                assert sock.recv(10) == b""
        finally:
            for sock in waiting:
                sock.close()
        new = clients(listener.getsockname(), 5)
        try:
            loop.run_for(0.3)
            assert [sock.recv(100) for sock in new] == [f"client {i}\n".encode() for i in range(5)]
        finally:
            for sock in new:
                sock.close()
        loop.run_for(0.1)
