"""Fixed-window rate limits kept in the cache (Redis), shared by every web process."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _window(scope: str, key: str) -> tuple[str, int, int]:
    """The cache key of the current window, the limit, and the seconds the window has left."""
    limit, window = settings.RATE_LIMITS[scope]
    now = int(time.time())
    bucket = f"ratelimit:{scope}:{hashlib.sha256(key.encode()).hexdigest()}:{now // window}"
    return bucket, limit, window - now % window


def exceeded(*, scope: str, key: str) -> int | None:
    """Whether `key` has used up `scope` (a RATE_LIMITS entry): seconds to wait, or None."""
    bucket, limit, left = _window(scope, key)
    return left if cache.get(bucket, 0) >= limit else None


def hit(*, scope: str, key: str) -> int | None:
    """Count one attempt; returns None while within the limit, else the seconds to wait."""
    bucket, limit, left = _window(scope, key)
    cache.add(bucket, 0, timeout=left + 1)
    try:
        count = cache.incr(bucket)
    except ValueError:  # the window expired between add and incr
        cache.set(bucket, 1, timeout=left + 1)
        count = 1
    return left if count > limit else None
