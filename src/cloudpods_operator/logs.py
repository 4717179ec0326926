"""Logging: JSON lines in a container, readable text on a terminal; every line about a cluster names it."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors: ``extra=`` fields become keys, tracebacks ``error``."""

    def format(self, record: logging.LogRecord) -> str:
        """``ts`` (UTC, microseconds), ``level``, ``logger``, ``msg``, then the record's extras."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """One line for a human at a terminal, prefixed ``[cluster]`` when the record names one."""

    def format(self, record: logging.LogRecord) -> str:
        """``HH:MM:SS LEVEL logger: [cluster] message``, and the traceback on the lines below."""
        cluster = getattr(record, "cluster", None)
        prefix = f"[{cluster}] " if cluster else ""
        when = self.formatTime(record, "%H:%M:%S")
        base = f"{when} {record.levelname:<7} {record.name}: {prefix}{record.getMessage()}"
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def configure(level: str, fmt: str) -> None:
    """Replace the root handlers with one on stderr; ``fmt`` ``auto`` means text on a tty, JSON otherwise.

    aiohttp stays at WARNING whatever ``level`` says: every probe and scrape would log a line.
    """
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
