"""The engine's sync entry points run it on a signing thread of the caller's
own (signing/engine_thread.py): the same cost from any caller depth, no
queueing between callers, and usable from a forked child."""

import asyncio
import os
import resource
import signal
import threading

import pytest

from signing import engine_thread
from signing.appearance import parse_where
from signing.documents import check_pdf
from signing.engine_thread import run_sync
from signing.pades import sign_pdf
from signing.validate import validate
from tests.signing import pdfs

# CPython 3.11 maps a fresh 16 KB stack chunk, and faults its pages in, on
# each call across a chunk's edge: 250 to 2,700 page faults a signature from
# the unlucky depths, against a few dozen from the others.
FAULTS_PER_SIGNATURE = 150


def _at_depth(depth: int, call):
    return call() if depth == 0 else _at_depth(depth - 1, call)


async def _signing_thread_faults() -> int:
    """Page faults so far of the thread the engine runs on: other threads of
    the test process fault pages in too."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def test_a_signature_takes_few_page_faults_from_any_caller_depth(ca):
    data = pdfs.simple_pdf()
    signer = pdfs.make_signer(ca)
    appearance = parse_where(
        {"page": 1, "position": "rect: 100,100,250,150"}, document=check_pdf(data)
    )

    def sign():
        return sign_pdf(data, signer=signer, field_name="A", appearance=appearance, name="Mario")

    for _ in range(3):  # the first ones import, fill caches and grow the heap
        sign()
    faults_at = {}
    for depth in range(0, 200, 6):  # a 16 KB chunk holds a hundred or so of these frames
        counts = []
        for _ in range(2):  # the fewer of two: the heap may grow during either
            before = run_sync(_signing_thread_faults())
            _at_depth(depth, sign)
            counts.append(run_sync(_signing_thread_faults()) - before)
        faults_at[depth] = min(counts)

    assert max(faults_at.values()) < FAULTS_PER_SIGNATURE, faults_at


def test_each_calling_thread_has_its_own_signing_thread_kept_between_calls():
    async def where():
        return threading.current_thread()

    here = [run_sync(where()) for _ in range(2)]
    there = []
    caller = threading.Thread(target=lambda: there.append(run_sync(where())))
    caller.start()
    caller.join()

    assert here[0] is here[1]
    assert here[0] is not threading.current_thread()
    assert there[0] not in (here[0], caller)


def test_a_caller_signs_on_its_own_thread_once_the_interpreter_is_exiting(monkeypatch):
    """Thread pools refuse new work once the interpreter exits: a request
    that outlives the server's graceful timeout still gets its signature."""

    class Exiting:
        def submit(self, *args):
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(engine_thread, "_signing_thread", Exiting)

    async def where():
        return threading.current_thread()

    assert run_sync(where()) is threading.current_thread()


def test_the_engines_exception_reaches_the_caller():
    async def fails():
        raise ValueError("from the engine")

    with pytest.raises(ValueError, match="from the engine"):
        run_sync(fails())


def test_run_sync_waits_from_inside_a_running_event_loop():
    async def inner():
        return 42

    async def outer():
        return run_sync(inner())

    assert asyncio.run(outer()) == 42


def test_a_forked_child_signs_with_a_signing_thread_of_its_own(ca):
    """The child inherits the parent's executor but not its thread: without a
    new one the child would wait forever."""
    data = pdfs.simple_pdf()
    signer = pdfs.make_signer(ca)
    sign_pdf(data, signer=signer, field_name="Parent")  # the parent's thread exists
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        signal.alarm(30)
        try:
            signed = sign_pdf(data, signer=signer, field_name="Child")
            os.write(write, b"ok" if validate(signed, trust_roots=[ca.root]).valid else b"invalid")
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read, "rb") as answer:
        assert answer.read() == b"ok"
    assert os.waitstatus_to_exitcode(status) == 0
