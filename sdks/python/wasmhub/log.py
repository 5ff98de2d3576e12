"""The host's log, tagged with the hub, connection and method.

    log.info("joined", room=room)

Keyword arguments become fields (their values as `str`). `print()` and
anything written to `sys.stdout` / `sys.stderr` go to this log too, a line
at a time, at `info` and `warn` (a hub built with `--stub-wasi` has no
WASI stdout).
"""

import io
import sys

from wit_world.imports import log as _wit

Level = _wit.Level


def write(level: Level, message: str, **fields) -> None:
    """Writes `message` with `fields` at `level`."""
    _wit.log(level, str(message), [(str(k), str(v)) for k, v in fields.items()])


def trace(message: str, **fields) -> None:
    write(Level.TRACE, message, **fields)


def debug(message: str, **fields) -> None:
    write(Level.DEBUG, message, **fields)


def info(message: str, **fields) -> None:
    write(Level.INFO, message, **fields)


def warn(message: str, **fields) -> None:
    write(Level.WARN, message, **fields)


def error(message: str, **fields) -> None:
    write(Level.ERROR, message, **fields)


class _LogStream(io.TextIOBase):
    """A text stream that writes each complete line to the host's log."""

    def __init__(self, level: Level):
        self._level = level
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            write(self._level, line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            write(self._level, line)


_redirected = False


def redirect_stdio() -> None:
    """Sends `sys.stdout` (info) and `sys.stderr` (warn) to the host's log,
    once. The SDK calls it when the host first calls the hub, inside the
    component only: a hub built with `--stub-wasi` has no WASI stdout, and
    writing there would trap. Not at import: the module is imported while
    componentize-py builds the component, when the host's log does not
    exist, and errors there must reach the terminal."""
    global _redirected
    if _redirected or sys.platform != "wasi":
        return
    _redirected = True
    sys.stdout = _LogStream(Level.INFO)
    sys.stderr = _LogStream(Level.WARN)
