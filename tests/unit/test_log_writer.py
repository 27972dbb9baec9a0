"""`LogWriter`, the handler `authward serve` and `authward worker` log through: info lines are
written in batches, by its own thread or at a clean stop, never lost or reordered; a warning is
written at once, with the lines before it."""

from __future__ import annotations

import io
import json
import logging
import threading

from authward.observability.logs import LogWriter


class Stream(io.StringIO):
    """A stderr that counts its writes and says when one happened."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.written = threading.Event()

    def write(self, text: str) -> int:
        self.writes += 1
        self.written.set()
        return super().write(text)


def _logger(writer: LogWriter, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [writer]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_info_lines_are_written_together_and_all_of_them_at_close() -> None:
    stream = Stream()
    writer = LogWriter(stream, "json")
    log = _logger(writer, "authward.test.batch")
    for i in range(500):
        log.info("line %d", i)
    writer.close()
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == [f"line {i}" for i in range(500)]
    assert stream.writes < 500  # one write per batch, not per line


def test_info_lines_reach_the_stream_without_a_flush_or_a_stop() -> None:
    stream = Stream()
    writer = LogWriter(stream, "text")
    try:
        _logger(writer, "authward.test.timer").info("served")
        stream.written.wait()  # the writer's own thread, a fraction of a second later
        assert " INFO authward.test.timer: served" in stream.getvalue()
    finally:
        writer.close()


def test_a_warning_is_written_at_once_after_the_lines_before_it() -> None:
    stream = Stream()
    writer = LogWriter(stream, "json")
    try:
        log = _logger(writer, "authward.test.urgent")
        log.info("first")
        log.warning("second")
        # No wait: the warning's emit wrote both.
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert [(x["level"], x["message"]) for x in lines] == [
            ("info", "first"),
            ("warning", "second"),
        ]
    finally:
        writer.close()
