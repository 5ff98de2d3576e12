"""Time and randomness from the host.

A hub built with `--stub-wasi` (every Python hub) has no WASI clock and no
WASI entropy: `time.time()` and `os.urandom()` would trap. The hub world's
`system` import has both:

    wasmhub.now()              # milliseconds since the Unix epoch (int)
    wasmhub.random_bytes(16)   # 16 bytes from the host's CSPRNG

On its first call into the hub, the SDK also points the standard library at
these (see `install`): `time.time()`, `time.time_ns()`, `time.monotonic()`,
`time.perf_counter()` (and their `_ns` forms), `os.urandom()`, and through
it `secrets`, `random.SystemRandom` and `uuid.uuid4()`, work; the module
`random`, when the hub imported it at module level, is reseeded from the
host once per instance.

Off the component (the SDK's and your own unit tests on CPython) `now` and
`random_bytes` use CPython's clock and `os.urandom`, and nothing is patched.
"""

import os
import sys
import time as _time

from wit_world.imports import system as _wit

#: Whether this runs inside a component (the host's imports exist).
_IN_COMPONENT = sys.platform == "wasi"

#: The most bytes the host returns per `random-bytes` call.
_CHUNK = 65536


def now() -> int:
    """Milliseconds since the Unix epoch, from the host's clock."""
    if _IN_COMPONENT:
        return _wit.now()
    return _time.time_ns() // 1_000_000


def random_bytes(n: int) -> bytes:
    """`n` bytes from the host's cryptographic random source (any `n`: more
    than 64 KiB is fetched in several host calls)."""
    n = int(n)
    if n < 0:
        raise ValueError("negative argument not allowed")
    if not _IN_COMPONENT:
        return os.urandom(n)
    if n <= _CHUNK:
        return bytes(_wit.random_bytes(n))
    parts = []
    left = n
    while left > 0:
        part = bytes(_wit.random_bytes(min(left, _CHUNK)))
        if not part:  # a host that returns nothing: do not spin
            raise OSError("the host returned no random bytes")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)[:n]


# ---------------------------------------------------------------------------
# Standard library shims


def _time_s() -> float:
    return now() / 1000.0


def _time_ns() -> int:
    return now() * 1_000_000


class _Monotonic:
    """A clock that never goes back, from the host's wall clock (millisecond
    resolution). For `time.monotonic` and `time.perf_counter`: durations
    measured with them work, at millisecond resolution."""

    __slots__ = ("last",)

    def __init__(self):
        self.last = 0

    def ns(self) -> int:
        current = now() * 1_000_000
        if current < self.last:
            current = self.last
        self.last = current
        return current

    def seconds(self) -> float:
        return self.ns() / 1e9


_installed = False


def install() -> None:
    """Points the standard library's clocks and entropy at the host, once
    per instance; the SDK calls it when the host first calls the hub. Only
    inside the component: at build time (componentize-py runs the module
    then) the host does not exist, and on CPython the real functions work.

    Patched: `time.time`, `time.time_ns`, `time.monotonic`,
    `time.monotonic_ns`, `time.perf_counter`, `time.perf_counter_ns`,
    `os.urandom` (and `random`'s own reference to it, which `secrets` and
    `SystemRandom` use); `random`'s global generator is reseeded. Not
    patched (they read the clock in C): `datetime.now()`,
    `time.process_time()`, and `time.localtime()` / `time.gmtime()` /
    `time.ctime()` / `time.strftime(fmt)` without a time; pass them
    `time.time()` (`date.today()` calls `time.time()` and works). Names bound before the patch
    (`from time import time` at module level) keep the trapping original.
    """
    global _installed
    if _installed or not _IN_COMPONENT:
        return
    _installed = True
    patch(_time, os, sys.modules)


def patch(time_module, os_module, modules) -> None:
    """The patches `install` applies, on the modules given (so that tests
    can apply them to stand-ins)."""
    monotonic = _Monotonic()
    time_module.time = _time_s
    time_module.time_ns = _time_ns
    time_module.monotonic = monotonic.seconds
    time_module.monotonic_ns = monotonic.ns
    time_module.perf_counter = monotonic.seconds
    time_module.perf_counter_ns = monotonic.ns
    os_module.urandom = random_bytes
    rand = modules.get("random")
    if rand is not None:
        if hasattr(rand, "_urandom"):
            rand._urandom = random_bytes
        # Seeded when the component was built: every instance would repeat
        # the same sequence. One host call per instance.
        rand.seed(int.from_bytes(random_bytes(32), "big"))
