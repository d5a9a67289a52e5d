"""The `EventHistory` on the hub's one DynamoDB table, for the AWS runtime.

The table has a string key `id` and a TTL attribute `expiration`, and no index, so
the history keeps its own lookups, all under the `history#` prefix, all expiring after
the retention (`HUB_HISTORY_DAYS`, 30 by default):
- `history#event#<event id>`: provider, kind, received_at, status, masked email, ref,
  parent, and `steps`, the story (a list appended to);
- `history#key#<search key>`: `ids`, the events with that email digest or provider
  id, or (`parent:<event id>`) the events one event caused;
- `history#hour#<YYYYMMDDHH>`: `ids` received that UTC hour: the timeline reads hours
  backwards, so it needs no scan (an hour holds ~10,000 ids before its item's 400 KB);
- `history#day#<YYYY-MM-DD>`: `received` and `dead` counters, for the counts per day.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.history import (
    DEFAULT_DAYS,
    STATUS_AFTER,
    Entry,
    EventRecord,
    Step,
    Story,
    day_of,
    event_status,
    search_keys,
)
from chalicelib.errors import ConfigurationError
from chalicelib.plumbing.aws import AwsClients, aws_error, error_code

PREFIX = "history#"
_HEADER = ("provider", "kind", "received_at", "status", "who", "ref", "parent")
# BatchGetItem takes at most 100 keys per call.
BATCH = 100


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(float(value)) if isinstance(value, float) else str(value)}


def _step_item(step: Step) -> dict[str, Any]:
    return {"M": {"at": _n(step.at), "step": _s(step.step), "detail": _s(step.detail), "letter": _s(step.letter_id)}}


def _record(item: dict[str, Any], with_steps: bool = False) -> EventRecord:
    def text(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    steps: tuple[Step, ...] = ()
    if with_steps:
        steps = tuple(
            Step(
                at=float(s["M"]["at"]["N"]),
                step=s["M"]["step"]["S"],
                detail=s["M"].get("detail", {}).get("S", ""),
                letter_id=s["M"].get("letter", {}).get("S", ""),
            )
            for s in item.get("steps", {}).get("L", [])
        )
    return EventRecord(
        event_id=item["id"]["S"].removeprefix(PREFIX + "event#"),
        provider=text("provider"),
        kind=text("kind"),
        received_at=float(item.get("received_at", {}).get("N", "0")),
        status=event_status(text("status")),
        who=text("who"),
        ref=text("ref"),
        parent=text("parent"),
        steps=steps,
    )


def _hour(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H")


class DynamoHistory:
    """What became of each event, in DynamoDB. No client is created before the first call."""

    def __init__(
        self,
        table_name: str,
        *,
        days: int = DEFAULT_DAYS,
        timeout: float = 10.0,
        clients: AwsClients | None = None,
    ) -> None:
        if not table_name:
            raise ConfigurationError("HUB_TABLE is not set: the event history needs the hub's DynamoDB table")
        self.table_name = table_name
        self.days = days
        self._clients = clients or AwsClients(timeout)

    @property
    def _ddb(self) -> Any:
        return self._clients.get("dynamodb")

    def _expiry(self, at: float | None = None) -> dict[str, str]:
        return _n(int((at or time.time()) + self.days * 86400))

    def _update(
        self, key: str, expression: str, values: dict[str, Any], names: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        try:
            return self._ddb.update_item(
                TableName=self.table_name,
                Key={"id": _s(PREFIX + key)},
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": names} if names else {}),
                **kw,
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise aws_error(exc, f"event history (table {self.table_name})") from exc

    def _add_ids(self, key: str, ids: list[str]) -> None:
        self._update(key, "ADD ids :ids SET expiration = :exp", {":ids": {"SS": ids}, ":exp": self._expiry()})

    # --- writers ----------------------------------------------------------------------

    def received(self, entry: Entry) -> bool:
        r = entry.record
        first = Step(r.received_at, "received", f"{r.kind} from {r.provider}")
        names = {f"#{name}": name for name in (*_HEADER, "known", "steps")}
        values = {
            ":provider": _s(r.provider),
            ":kind": _s(r.kind),
            ":received_at": _n(r.received_at),
            ":status": _s(r.status),
            ":who": _s(r.who),
            ":ref": _s(r.ref),
            ":parent": _s(r.parent),
            ":true": {"BOOL": True},
            ":first": {"L": [_step_item(first)]},
            ":empty": {"L": []},
            ":exp": self._expiry(r.received_at),
        }
        sets = [f"#{name} = :{name}" for name in _HEADER if name != "status"]
        sets += [
            "#status = if_not_exists(#status, :status)",  # a step that outran the door keeps its status
            "#known = :true",
            "#steps = list_append(:first, if_not_exists(#steps, :empty))",
            "expiration = :exp",
        ]
        done = self._update(
            f"event#{r.event_id}",
            "SET " + ", ".join(sets),
            values,
            names,
            ConditionExpression="attribute_not_exists(#known)",
        )
        if done is None:
            return False
        self._add_ids(f"hour#{_hour(r.received_at)}", [r.event_id])
        for key in (*entry.keys, *((f"parent:{r.parent}",) if r.parent else ())):
            self._add_ids(f"key#{key}", [r.event_id])
        self._count(r.received_at, "received")
        return True

    def _count(self, at: float, counter: str) -> None:
        self._update(
            f"day#{day_of(at)}",
            "ADD #c :one SET expiration = :exp",
            {":one": _n(1), ":exp": self._expiry()},
            {"#c": counter},
        )

    def add_step(self, event_id: str, step: Step) -> None:
        status = STATUS_AFTER.get(step.step)
        values: dict[str, Any] = {
            ":step": {"L": [_step_item(step)]},
            ":empty": {"L": []},
            ":at": _n(step.at),
            ":exp": self._expiry(step.at),
        }
        sets = [
            "#steps = list_append(if_not_exists(#steps, :empty), :step)",
            "received_at = if_not_exists(received_at, :at)",
            "expiration = if_not_exists(expiration, :exp)",
        ]
        values[":status"] = _s(status or "queued")
        sets.append("#status = :status" if status else "#status = if_not_exists(#status, :status)")
        self._update(f"event#{event_id}", "SET " + ", ".join(sets), values, {"#steps": "steps", "#status": "status"})
        if step.step == "dead letter":
            self._count(step.at, "dead")

    # --- readers ----------------------------------------------------------------------

    def _batch_get(
        self, keys: list[str], projection: str = "", names: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The items of `keys` (without the prefix) that exist, in no particular order."""
        items: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH):
            spec: dict[str, Any] = {"Keys": [{"id": _s(PREFIX + k)} for k in unique[start : start + BATCH]]}
            if projection:
                spec["ProjectionExpression"] = projection
                spec["ExpressionAttributeNames"] = names or {}
            request: dict[str, Any] = {self.table_name: spec}
            while request:
                try:
                    answer = self._ddb.batch_get_item(RequestItems=request)
                except Exception as exc:
                    raise aws_error(exc, f"event history (table {self.table_name})") from exc
                items.extend(answer.get("Responses", {}).get(self.table_name, []))
                request = answer.get("UnprocessedKeys") or {}
        return items

    def _ids(self, keys: list[str]) -> list[str]:
        return [i for item in self._batch_get(keys) for i in item.get("ids", {}).get("SS", [])]

    def _events(self, ids: list[str], with_steps: bool = False) -> list[EventRecord]:
        fields = ["id", *_HEADER] + (["steps"] if with_steps else [])
        names = {f"#f{i}": f for i, f in enumerate(fields)}
        items = self._batch_get([f"event#{i}" for i in ids], ", ".join(names), names)
        return [_record(item, with_steps) for item in items]

    def search(self, query: str = "", limit: int = 50) -> list[EventRecord]:
        q = query.strip()
        ids = [q, *self._ids([f"key#{k}" for k in search_keys(q)])] if q else self._recent_ids(limit)
        found = sorted(self._events(ids), key=lambda r: (-r.received_at, r.event_id))
        return found[:limit]

    def _recent_ids(self, limit: int) -> list[str]:
        """Ids of at least `limit` newest events (or all), read a day of hours at a time."""
        now = time.time()
        ids: list[str] = []
        for day in range(self.days + 1):
            hours = [f"hour#{_hour(now - (day * 24 + h) * 3600)}" for h in range(24)]
            ids.extend(self._ids(hours))
            if len(ids) >= limit:
                break
        return ids

    def story(self, event_id: str) -> Story | None:
        found = self._events([event_id], with_steps=True)
        if not found:
            return None
        children = self._events(self._ids([f"key#parent:{event_id}"]), with_steps=True)
        return Story(event=found[0], children=tuple(sorted(children, key=lambda r: (r.received_at, r.event_id))))

    def counts_per_day(self, days: int) -> dict[str, dict[str, int]]:
        now = time.time()
        wanted = [day_of(now - d * 86400) for d in range(days)]
        out: dict[str, dict[str, int]] = {}
        for item in self._batch_get([f"day#{d}" for d in wanted]):
            day = item["id"]["S"].removeprefix(PREFIX + "day#")
            out[day] = {
                "received": int(item.get("received", {}).get("N", "0")),
                "dead letter": int(item.get("dead", {}).get("N", "0")),
            }
        return dict(sorted(out.items()))
