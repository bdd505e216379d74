"""Logging set-up, done once per process: human lines on a terminal, JSON on request."""

from __future__ import annotations

import logging
import sys

from kairos._lean import without

# structlog draws the tracebacks of its console lines with rich whenever it can import it:
# 60 ms of a CLI command's start (rich.pretty, rich.traceback, pygments), before `kairos
# launch` has even started its agent.  A plain traceback says the same, and the commands that
# draw tables import rich themselves, later.
with without("rich"):
    import structlog


def configure(json: bool = False, level: str = "info", stream=None) -> None:
    """Route structlog to ``stream`` (stderr by default) as console lines or JSON lines."""
    out = stream if stream is not None else sys.stderr
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get(name: str, **context) -> structlog.typing.FilteringBoundLogger:
    """A logger bound to a component name (and any context, such as the actor)."""
    return structlog.get_logger().bind(component=name, **context)
