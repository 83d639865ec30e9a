"""The sandbox's log on stderr: one line per lifecycle event (dialed, answered, ended, a
webhook delivered...), ``HH:MM:SS message``, written a loop pass at a time."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class _SecondsFormatter(logging.Formatter):
    """``HH:MM:SS message``; the time text is made once per second, not once per line."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._text = super().formatTime(record, datefmt)
            self._second = second
        return self._text


class _LoopBatchedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Lines to a stream, written together at the end of the event loop's current pass.

    The sandbox logs every call it places and answers; one write per pass instead of
    one write and flush per line. Without a running loop a line is written at once.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        if not self._lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: nothing would come round to write it
                self._write(line)
                return
        self._lines.append(line)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._lines:
                text = "".join(self._lines)
                self._lines.clear()
                self._write(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:
            pass  # as StreamHandler: a closed or broken stderr must not stop the sandbox

    def close(self) -> None:
        self.flush()
        super().close()


@contextmanager
def log_to_stderr() -> Iterator[None]:
    """The sandbox's log (INFO and up) on stderr while the block runs.

    A line shows the time and the message only, so the logging module need not look up
    the thread or process of each record (its documented switches, ``logging.logThreads``
    and the like); they are restored afterwards for the rest of the process.
    """
    handler = _LoopBatchedHandler(sys.stderr)
    handler.setFormatter(_SecondsFormatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger = logging.getLogger("orchestrator.sandbox")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    saved = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    try:
        yield
    finally:
        logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved
        logger.removeHandler(handler)
        handler.close()
