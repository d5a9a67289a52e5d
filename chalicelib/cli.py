"""`python -m chalicelib`: operators' views and commands on the hub named by the environment.

python -m chalicelib sheet [TEXT]            the customer sheet as a table (rows containing TEXT)
python -m chalicelib orders [--limit N]      the stock orders the hub placed, newest first
python -m chalicelib queues                  messages waiting in each queue
python -m chalicelib dead-letters            the dead letters, with where and why they failed
python -m chalicelib replay ID [ID ...]|all  replay dead letters through today's code (none: list them)
python -m chalicelib discard ID --reason …   drop one dead letter for good, saying why
python -m chalicelib sync                    queue what the sheet owes (rows added by hand)
python -m chalicelib story EVENT             what became of one event (an id, evt_…, in_…, an email)

The stage is `--stage`, else `HUB_STAGE`, else `dev` (as `chalice local` defaults), so on a
laptop `python -m chalicelib …` reads the same `.hub/` as `make run`; `HUB_STATE_DIR`,
`HUB_TABLE` and the service settings select the hub exactly as they do for the server.

Exit codes: 0 done; 1 nothing matched, or it failed; 2 usage (a wrong command or setting).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.domain.words import plural
from chalicelib.errors import ConfigurationError, HubError, PermanentError

if TYPE_CHECKING:
    from chalicelib.bootstrap import Hub

DONE, NOTHING, USAGE = 0, 1, 2
WIDEST = 40  # a column is cut to this many characters
STORY_MATCHES = 20  # events listed when a search finds several


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Rows as aligned text columns under their headers; long cells are cut with `…`,
    except in the last column (a reason, say), which has the rest of the line."""
    last = len(headers) - 1
    cells = [[_cell(value, whole=i == last) for i, value in enumerate(row)] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [[h.ljust(w) for h, w in zip(headers, widths, strict=True)]]
    lines.append(["-" * w for w in widths])
    lines += [[c.ljust(w) for c, w in zip(row, widths, strict=True)] for row in cells]
    return ["  ".join(line).rstrip() for line in lines]


def _cell(value: Any, whole: bool = False) -> str:
    text = " ".join(str("" if value is None else value).split())
    return text if whole or len(text) <= WIDEST else text[: WIDEST - 1] + "…"


def duration(seconds: float) -> str:
    """`42 s`, `3 min`, `5 h`, `2 d`: the largest unit that fits."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


# --- the commands: each prints, then returns its exit code ---------------------------------


def show_sheet(hub: Hub, args: argparse.Namespace) -> int:
    customers = hub.sheet.all()
    text = (args.text or "").strip().lower()
    if text:
        customers = [c for c in customers if any(text in str(v).lower() for v in vars(c).values())]
    headers = ["Email", "Name", "Status", "Box", "Consent", "Stripe customer", "Signed up", "Last order"]
    rows = [
        [c.email, c.name, c.status, c.box, "yes" if c.consent else "no", c.stripe_customer, c.signed_up, c.last_order]
        for c in customers
    ]
    if rows:
        print("\n".join(table(headers, rows)))
    print(plural(len(rows), "customer") + (f" matching {args.text!r}" if text else ""))
    return NOTHING if text and not rows else DONE


def show_orders(hub: Hub, args: argparse.Namespace) -> int:
    orders = hub.stock.recent_orders(args.limit)
    rows = [[o.created, o.ref, o.customer, o.product, o.state] for o in orders]
    if rows:
        print("\n".join(table(["Created (UTC)", "Invoice", "Customer", "Product", "State"], rows)))
    print(plural(len(rows), "order") + (f" (the newest {args.limit})" if len(rows) == args.limit else ""))
    return DONE


def show_dead_letters(hub: Hub, args: argparse.Namespace) -> int:
    letters = hub.dead_letters.list()
    now = time.time()
    rows = [
        [
            d.id,
            f"{d.queue}/{d.step}",
            d.body.get("kind", "?"),
            d.body.get("event_id", ""),
            duration(max(0.0, now - d.failed_at)) + " ago",
            d.reason,
        ]
        for d in letters
    ]
    if rows:
        print("\n".join(table(["Id", "Where", "Kind", "Event", "Failed", "Reason"], rows)))
    print(plural(len(rows), "dead letter"))
    return DONE


def replay(hub: Hub, args: argparse.Namespace) -> int:
    """Through the dashboard's own actions, so each replay is written into its event's story."""
    from chalicelib import dead_letters
    from chalicelib.admin import views

    if not args.ids:
        return show_dead_letters(hub, args)
    if [i.lower() for i in args.ids] == ["all"]:
        ids = [d.id for d in hub.dead_letters.list() if dead_letters.replayable(d)]
    else:
        ids = args.ids
    outcome = {letter_id: views.replay(hub, letter_id) for letter_id in ids}
    done = [i for i, o in outcome.items() if o == "replayed"]
    refused = [i for i, o in outcome.items() if o == "refused"]
    missing = [i for i, o in outcome.items() if o == "missing"]
    print(f"Replayed {plural(len(done), 'dead letter')}.")
    if refused:
        print(f"Not replayed, commands run once only (discard them): {', '.join(refused)}.")
    if missing:
        print(f"No dead letter {', '.join(missing)} (replayed already, discarded, or mistyped).")
    return NOTHING if missing or refused or not done else DONE


def discard(hub: Hub, args: argparse.Namespace) -> int:
    from chalicelib.admin import views

    if not args.reason.strip():
        raise PermanentError("say why the letter is discarded (--reason)")
    if not views.discard(hub, args.id, args.reason.strip()):
        print(f"No dead letter {args.id} (replayed, discarded already, or mistyped).", file=sys.stderr)
        return NOTHING
    print(f"Discarded {args.id}.")
    return DONE


def show_queues(hub: Hub, args: argparse.Namespace) -> int:
    from chalicelib.admin import views
    from chalicelib.queues import QUEUES

    queues = views.queues(hub)
    names = [*QUEUES, *sorted(set(queues) - set(QUEUES))]
    rows = []
    for name in names:
        q = queues.get(name, {})
        age = q.get("oldest_age_seconds")
        rows.append([name, q.get("depth", 0), "" if age is None else duration(age)])
    print("\n".join(table(["Queue", "Waiting", "Oldest"], rows)))
    print(plural(sum(q.get("depth", 0) for q in queues.values()), "message") + " waiting")
    return DONE


def sync(hub: Hub, args: argparse.Namespace) -> int:
    print(f"Queued {plural(hub.sync_sheet(), 'marketing email')}.")
    return DONE


def show_story(hub: Hub, args: argparse.Namespace) -> int:
    from chalicelib.admin import views

    story = views.event_story(hub, args.event)
    if story is None:
        found = views.events(hub, args.event, STORY_MATCHES)["events"]
        if len(found) != 1:
            if found:
                print(
                    "\n".join(
                        table(["Event", "Type", "Received (UTC)", "Status", "Who"], [_event_row(e) for e in found])
                    )
                )
            print(
                f"{plural(len(found), 'event')} in the history match {args.event!r}"
                + (": give one id" if found else "")
            )
            return DONE if found else NOTHING
        story = views.event_story(hub, found[0]["id"])
        if story is None:
            return NOTHING
    print("\n".join(story_lines(story)))
    return DONE


def _event_row(e: dict[str, Any]) -> list[str]:
    return [e["id"], e["type"], e["received_at"], e["status"], e["who"]]


def story_lines(story: dict[str, Any]) -> list[str]:
    """One event's story as text: what came in, each step, what it caused, what waits."""
    event = story["event"]
    lines = [
        f"{event['id']}  {event['type']} from {event['provider']}, {event['status']}"
        + (f"  ({', '.join(x for x in (event['who'], event['ref']) if x)})" if event["who"] or event["ref"] else "")
    ]
    lines += [f"  {s['at']}  {s['step']:<12} {s['detail']}" for s in story["steps"]]
    for child in story["children"]:
        c = child["event"]
        lines.append(f"  caused {c['id']}  {c['type']}, {c['status']}")
        lines += [f"    {s['at']}  {s['step']:<12} {s['detail']}" for s in child["steps"]]
    for d in story["dead_letters"]:
        lines.append(
            f"  dead letter {d['id']} at {d['queue']}/{d['step']}: {d['reason']}  (replay: make replay ARGS={d['id']})"
        )
    return lines


COMMANDS: dict[str, Callable[[Hub, argparse.Namespace], int]] = {
    "sheet": show_sheet,
    "orders": show_orders,
    "queues": show_queues,
    "dead-letters": show_dead_letters,
    "replay": replay,
    "discard": discard,
    "sync": sync,
    "story": show_story,
}


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="python -m chalicelib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    main_parser.add_argument("--stage", help="the Chalice stage whose settings apply (default: $HUB_STAGE, else dev)")
    sub = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sheet = sub.add_parser("sheet", help="the customer sheet as a table")
    sheet.add_argument("text", nargs="?", help="only the rows containing this text (an email, a name, a status…)")
    orders = sub.add_parser("orders", help="the stock orders the hub placed, newest first")
    orders.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    sub.add_parser("queues", help="messages waiting in each queue")
    sub.add_parser("dead-letters", help="the dead letters and why they failed")
    replay_parser = sub.add_parser("replay", help="replay dead letters (none given: list them)")
    replay_parser.add_argument("ids", nargs="*", help="letter ids, or `all`")
    discard_parser = sub.add_parser("discard", help="drop a dead letter for good")
    discard_parser.add_argument("id")
    discard_parser.add_argument("--reason", required=True, help="why (kept with the letter)")
    sub.add_parser("sync", help="queue the marketing email of consenting rows never sent one")
    story = sub.add_parser("story", help="what became of one event: each step, retry, dead letter, replay")
    story.add_argument("event", help="the hub's event id, or what finds it: evt_…, in_…, cus_…, an email")
    return main_parser


def hub_for(stage: str | None) -> Hub:
    """The hub of `stage` (else `HUB_STAGE`, else dev), from the process environment."""
    from chalicelib.bootstrap import Hub
    from chalicelib.settings import Settings

    stage = stage or os.environ.get("HUB_STAGE", "").strip() or "dev"
    return Hub(Settings.from_env({**os.environ, "HUB_STAGE": stage}))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # exits 2 on a usage error, as argparse does
    try:
        return COMMANDS[args.command](hub_for(args.stage), args)
    except (ConfigurationError, PermanentError) as exc:  # a setting or an argument to fix
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except HubError as exc:  # a service that failed: try again later
        print(f"error: {exc}", file=sys.stderr)
        return NOTHING
