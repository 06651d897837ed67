"""Helpers for the Switchyard notebooks.

A chapter reads like a lesson; the plumbing lives here, one flat module per concern (grouping
them by concern was sketched: it adds imports back up). The modules, by who imports them:

Imported by the notebooks, in the order the chapters first need them:

    trace      record switch events from any model; print them; draw a swimlane timeline
               (running, ready and waiting drawn differently)
    timing     a stopwatch and verdicts with generous bands ("about 1x one task, not 10x")
    exercises  self-checking exercises: ``check("00.1", answer)``
    checks     the exercises' checkers, one module per chapter (``check`` imports them on first use;
               a chapter imports one directly for an exercise's own material, e.g. 03.2's program)
    site       the course's local slow website: delayed pages and a small "book"
    workspace  the learner's own copies of the chapters (answers hidden, edits kept) and their
               progress; also a command, ``python -m helpers.workspace sync`` (course.py, Binder)
    stepper    step through any generator by hand: the logic, and an ipywidgets view of it
    pep380     chapter 02's table of cases; run two delegating generators through them and compare
    greenlets  greenlet/gevent switches as trace events (greenlet.settrace); gevent's error reports
    fresh      run a program in a fresh interpreter (optionally gevent-patched) with a timeout
    programs   a fresh-interpreter program that keeps running while the cell talks to it (a server)
    gservers   gevent servers on loopback: stream_server, serve_one_client
    swarm      N clients against any server, in a thread or a second process (to 10,000)
    gauge      InFlight: how many at once, and the most so far
    heartbeat  the longest silence of a beating task, on a clock the OS's load does not advance
    selectdemo chapter 05's stage for servers written in a cell: a server thread, staged clients
    filexfer   a framed get/put file server, its clients and swarm payloads
    c10k       descriptor limits, select()'s ceiling, 10,000 connections held by one thread
    models     the cost of one wait (select/poll/epoll); process/thread/event servers compared
    asynctrace asyncio tasks as trace events (trace_tasks); LoopRecorder for a home-made loop
    homeloop   chapter 06's home-made event loop, finished: Future, Task, a selectors Loop, socket calls
    codediff   the lines that changed between two versions of a function or class
    leftovers  a chapter's closing check: tasks, threads and processes it left running (run twice too)
    book       chapter 08's book site in GBK: a crawler's target with a missing chapter, a 404, faults
    limits     chapter 08's verdict on a concurrency limit: wins, loses, or no clear winner
    procs      chapter 10's pool jobs, a CPU job that records when it computed, an echo fleet of processes
    echobench  chapter 11's showdown: one echo workload against a server of every model, 1 to 1,000 clients
    showdown   chapter 11's showdown: thousands of sleepers and the cost of one switch, every model

Imported only by other helpers (and the tests):

    servers    the shared base of the course's servers: an asyncio loop in a background thread
    echo       the asyncio echo server (one trace lane per client), one of c10k's servers
    selserver  a selectors server in one background thread: filexfer's base, c10k's other server
    progress   a progress bar for long measurements: a widget in a kernel, silent elsewhere
    _checks    argument checks every helper shares (what "a number of seconds" is)
    _figures   a matplotlib figure as PNG bytes, the same bytes for the same drawing
    _http      what site and book share about HTTP: a runner that answers after the client's half-close
    _spare     a spare descriptor, so that homeloop's accept out of descriptors neither spins nor dies
    _child     a child interpreter: started in its own process group, talked to in lines, stopped
    _system    what the kernel says: /proc readers, descriptor limits, somaxconn, a listener's queue
    _model_names  chapter 11's models, named once: the showdown's and the echo bench's, and which is which

Run as programs in a fresh interpreter, ``python -m helpers.children.NAME`` (never imported):

    children   swarm (swarm's clients in a second process), showdown (the showdown's measuring
               side, one model at a time), echo_server (one echo server of every model: echobench's
               and models.compare_models'), echo_load (echobench's load generator)

Imported by the course's tooling, not by the helpers or the notebooks:

    _lab       the contents manager of the course's JupyterLab (course.py lab, Binder)

Notebooks import what they use by name, e.g. ``from helpers.trace import Tracer``.
Nothing here prints from a background thread: servers collect events for the cell to
print afterwards, so output always lands in the cell that asked for it.
"""
