import statistics
import time
import tracemalloc
from collections.abc import Callable


def median_ms(fn: Callable[[], object], *, rounds: int = 200, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def peak_kib(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


def report(name: str, measured: float, baseline_name: str, baseline: float) -> None:
    print(
        f"{name:<44} {measured:8.3f} ms   {measured / baseline:6.2f}x {baseline_name}"
        f" ({baseline:.3f} ms)"
    )
