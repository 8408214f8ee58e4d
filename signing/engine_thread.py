"""Where the engine's coroutines run when sync code calls them: on a thread of
the caller's own, always from the same depth.

Why not on the caller's thread: CPython 3.11 keeps a thread's frames in 16 KB
chunks and frees a chunk as soon as the frame at its base returns
(python/cpython#142183; 3.13 and 3.14 keep one spare chunk). A loop that
calls right across a chunk's edge then maps and unmaps 16 KB on every call.
pyHanko, asn1crypto and fontTools loop deep in the stack, and where the
edges fall depends on how deep the caller is (a Django view, a Celery task,
a test): from some depths a one-page signature made that round trip 2,500
times, a third more time, and from others not at all. A thread of its own
starts the engine from one depth whatever the caller, one that does not
hit an edge (tests/signing/test_engine_thread.py counts the page faults
from many depths).

One thread per calling thread, so concurrent callers never queue behind
each other (a B-T signature waits on its time-stamping authority), and one
event loop per signing thread, kept: cheaper than a new loop per signature,
and pyHanko's HTTP sessions stay on the loop that opened them. Being a
separate thread also lets a caller inside a running event loop wait for a
signature, which asyncio would refuse to nest.
"""

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_local = threading.local()


def _signing_thread() -> ThreadPoolExecutor:
    """The calling thread's signing thread, started on first use and again in
    a forked child (which inherits the executor but not its thread)."""
    pool = getattr(_local, "pool", None)
    if pool is None or _local.pid != os.getpid():
        name = f"signing-for-{threading.current_thread().name}"
        pool = _local.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        _local.pid = os.getpid()
    return pool


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def _complete(coroutine):
    return _thread_loop().run_until_complete(coroutine)


def run_sync(coroutine):
    """Run an engine coroutine from sync code and return its result (or raise
    its exception), also from inside a running event loop."""
    try:
        future = _signing_thread().submit(_complete, coroutine)
    except RuntimeError:
        # The interpreter is exiting (say, a request that outlived the web
        # server's graceful timeout) and thread pools take no new work: sign
        # on the caller's thread, as the engine did before it had its own.
        return _complete(coroutine)
    return future.result()
