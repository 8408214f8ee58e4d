"""The total deadline of one request() call.

A per-read socket timeout is not enough: a server that dribbles one byte just
before each timeout would hold a worker forever. So `timeout` bounds the whole
exchange (resolution, connect, TLS, headers, body, the digest round trip,
redirect hops), and a watchdog shuts every socket of the call down when it
passes, which wakes any blocked read whatever the library was doing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from portal.outbound.errors import TimedOut


class Deadline:
    """A total deadline for one call. Sockets are watched through a duplicate
    descriptor: it survives the TLS wrapping, and shutting it down ends the
    connection for every reader of the original."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.host = ""  # the peer of the current hop, for messages
        self.expired = False
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._closed = False

    def error(self) -> TimedOut:
        return TimedOut(f"{self.host or 'the peer'} did not answer within {self.seconds:g} s")

    def remaining(self) -> float:
        """Seconds left; raises TimedOut once there are none."""
        left = self.at - time.monotonic()
        if left <= 0 or self.expired:
            self.expired = True
            raise self.error()
        return left

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

    def watch(self, sock: socket.socket) -> socket.socket:
        """Watch `sock` until `forget()`; returns the duplicate to hand back."""
        twin = sock.dup()
        with self._lock:
            if self._closed or self.expired:
                twin.close()
                raise self.error()
            self._watched.append(twin)
            # The watchdog starts with the first socket: a call that never
            # connects is bounded by remaining() alone.
            if self._timer is None:
                self._timer = threading.Timer(max(0.0, self.at - time.monotonic()), self._expire)
                self._timer.daemon = True
                self._timer.start()
        return twin

    def forget(self, twin: socket.socket) -> None:
        with self._lock:
            if twin in self._watched:
                self._watched.remove(twin)
                twin.close()

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for twin in self._watched:
                with contextlib.suppress(OSError):
                    twin.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            for twin in self._watched:
                twin.close()
            self._watched.clear()
