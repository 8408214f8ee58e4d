"""Fixed-window rate limits kept in the cache (Redis), shared by every web process."""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def hit(*, scope: str, key: str) -> int | None:
    """Count one attempt for `key` in `scope` (a RATE_LIMITS entry).

    Returns None while within the limit, else the seconds until the window ends.
    """
    limit, window = settings.RATE_LIMITS[scope]
    now = int(time.time())
    bucket = f"ratelimit:{scope}:{hashlib.sha256(key.encode()).hexdigest()}:{now // window}"
    cache.add(bucket, 0, timeout=window + 1)
    if cache.incr(bucket) > limit:
        return window - now % window
    return None
