"""Fires the functions registered with `@app.schedule`, as EventBridge would.

`rate(...)` expressions are honoured. A `cron(...)` expression is not evaluated locally:
it is logged once at start so nobody waits for it in vain.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.logs import logger
from chalicelib.runtime.embedded.dispatcher import REGION, LocalContext

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float | None:
    """Seconds between firings of `rate(5 minutes)`; None for anything else."""
    if not (expression.startswith("rate(") and expression.endswith(")")):
        return None
    value, unit = expression[5:-1].split()
    return float(value) * _UNITS[unit.lower()]


@dataclass
class Schedule:
    name: str
    handler: Any
    every: float
    next_at: float = field(default=0.0)


def schedules_of(app: Any, first_delay: float = 2.0) -> list[Schedule]:
    from chalice.app import ScheduledEventConfig

    out = []
    for source in app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        expr = source.schedule_expression
        expr = expr if isinstance(expr, str) else expr.to_string()
        every = rate_seconds(expr)
        if every is None:
            logger.warning("schedule not fired by the embedded runtime", extra={"schedule": source.name, "expr": expr})
            continue
        # A first run soon after start catches up with whatever happened while we were down.
        out.append(Schedule(source.name, app.handler_map[source.name], every, time.time() + first_delay))
    return out


def scheduled_event(name: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:000000000000:rule/{name}"],
        "detail": {},
    }


def fire_due(schedules: list[Schedule], now: float) -> None:
    for schedule in schedules:
        if now < schedule.next_at:
            continue
        schedule.next_at = now + schedule.every
        try:
            schedule.handler(scheduled_event(schedule.name), LocalContext(schedule.name))
        except Exception:
            logger.exception("scheduled function failed", extra={"schedule": schedule.name})
