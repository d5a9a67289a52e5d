"""In-memory fakes of every port in `chalicelib.ports`, for unit tests of the flows.

They are honest implementations, not mocks: the sheet keeps rows keyed by the trimmed,
lower-cased email, the stock keeps partners and orders with Odoo's non-unique
`client_order_ref`, the queue drops a send whose dedupe id is still waiting (as the
embedded queue and SQS FIFO do). Each fake can be told to fail its next calls
(`fail_next`), so a test can replay the crashes the flows must survive; and each
exposes what it holds for the test to inspect.
"""

from __future__ import annotations

import copy
import json
import time
from collections import defaultdict
from collections.abc import Collection, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib import flows
from chalicelib.adapters.locks_local import LocalLocks
from chalicelib.adapters.sheet_layout import EMAIL, HEADERS, from_cells, to_cells
from chalicelib.dead_letters import letter_id
from chalicelib.domain import events as ev
from chalicelib.domain.catalog import Catalog
from chalicelib.domain.customer import Customer, normalise_email
from chalicelib.domain.history import STATUS_AFTER, Entry, EventRecord, Step, Story, day_of, search_keys
from chalicelib.domain.precedence import Clock
from chalicelib.errors import PermanentError, TransientError
from chalicelib.ports import CustomerRows, DeadLetter, Email, Handover, OrderSummary, Ports, StockOrder

TODAY = "2025-06-01"
PUBLIC_URL = "https://hub.example.test"
SECRET_KEY = "unit-test-secret"
MAIL_DOMAIN = "chocohub.example.test"
CHANNEL = "#orders"
OPERATOR = "U0OPS"


class Faulty:
    """Scripted failures: `fail_next("method")` makes that method's next call raise.

    The default error is a `TransientError`, the kind a real adapter raises when its
    service is down after the sink's own retries.
    """

    def __init__(self) -> None:
        self._faults: dict[str, list[BaseException | None]] = defaultdict(list)
        self.calls: list[str] = []

    def fail_next(self, method: str, error: BaseException | None = None, times: int = 1, skip: int = 0) -> None:
        """After `skip` calls of `method` that succeed, the next `times` calls raise `error`
        (a TransientError by default)."""
        self._faults[method].extend([None] * skip)
        for _ in range(times):
            self._faults[method].append(error or TransientError(f"{type(self).__name__}.{method} is down (injected)"))

    def heal(self) -> None:
        """Forget every failure still scripted: the service is back."""
        self._faults.clear()

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self._faults.get(method):
            fault = self._faults[method].pop(0)
            if fault is not None:
                raise fault


_HUB_HEADERS = {h.lower() for h in HEADERS}


class FakeSheet(Faulty):
    """`CustomerSheet`: one row per normalised email, in insertion (sheet) order.

    As the real sheets, it reads emails back trimmed and lower-cased, skips rows without
    an email, and keeps each row's cells as the sheet shows them (`cells`): a row typed by
    hand as typed, staff columns never written by the hub.
    """

    def __init__(self, rows: list[Customer] | None = None) -> None:
        super().__init__()
        self._rows: dict[str, Customer] = {}
        self._cells: dict[str, dict[str, str]] = {}  # normalised email -> the row's cells by header
        for row in rows or []:
            self.type_row(row)

    def type_row(self, customer: Customer) -> None:
        """A row typed into the sheet by hand, bypassing the hub."""
        self.type_cells(to_cells(customer))

    def type_cells(self, cells: dict[str, str]) -> None:
        """A row typed by hand, as cells by header (hub headers matched case-insensitively)."""
        customer = from_cells(cells)
        self._rows[customer.email] = customer
        self._cells[customer.email] = dict(cells)

    def get(self, email: str) -> Customer | None:
        self._enter("get")
        return self._rows.get(normalise_email(email)) if normalise_email(email) else None

    def find_by_stripe_customer(self, stripe_customer: str) -> Customer | None:
        self._enter("find_by_stripe_customer")
        wanted = (stripe_customer or "").strip()
        return next((c for c in self._rows.values() if wanted and c.stripe_customer == wanted), None)

    def save(self, customer: Customer) -> bool:
        self._enter("save")
        return self._write(customer)

    def _write(self, customer: Customer) -> bool:
        key = normalise_email(customer.email)
        added = key not in self._rows
        self._rows[key] = replace(customer, email=key)
        staff = {h: v for h, v in self._cells.get(key, {}).items() if h.strip().lower() not in _HUB_HEADERS}
        self._cells[key] = {**staff, **to_cells(self._rows[key])}
        return added

    @contextmanager
    def edit(self, emails: Collection[str], stripe_customers: Collection[str] = ()) -> Iterator[CustomerRows]:
        """Loads the rows (`edit` can be told to fail), then writes the changed ones, each
        counted as a `save` (`commit` can be told to fail: nothing is written then)."""
        self._enter("edit")
        wanted = {normalise_email(e) for e in emails}
        ids = {i.strip() for i in stripe_customers}
        rows = CustomerRows(
            c
            for key, c in self._rows.items()
            if key and (key in wanted or (c.stripe_customer and c.stripe_customer in ids))
        )
        yield rows
        self._enter("commit")
        for customer in rows.changed():
            self.calls.append("save")
            self._write(customer)

    def change_email(self, old_email: str, new_email: str) -> bool:
        self._enter("change_email")
        old, new = normalise_email(old_email), normalise_email(new_email)
        if not old or old not in self._rows:
            return False
        # the row keeps its place in the sheet, and its staff cells
        self._rows = {
            (new if k == old else k): (replace(v, email=new) if k == old else v) for k, v in self._rows.items()
        }
        self._cells = {(new if k == old else k): v for k, v in self._cells.items()}
        self._cells[new] = {h: v for h, v in self._cells[new].items() if h.strip().lower() != EMAIL.lower()}
        self._cells[new][EMAIL] = new
        return True

    def all(self) -> list[Customer]:
        self._enter("all")
        return [c for key, c in self._rows.items() if key]

    def ping(self) -> str:
        self._enter("ping")
        return f"fake sheet, {len(self._rows)} rows"

    # --- inspection -------------------------------------------------------------

    @property
    def rows(self) -> list[Customer]:
        return list(self._rows.values())

    def cells(self) -> list[dict[str, str]]:
        """Every row as the sheet shows it: the hub's cells and the staff's, by header."""
        return [dict(self._cells[key]) for key in self._rows]

    def row(self, email: str) -> Customer:
        """The row of `email`; a KeyError says the test expected a row that is not there."""
        return self._rows[normalise_email(email)]

    @property
    def saves(self) -> int:
        return self.calls.count("save")


@dataclass
class FakeOrder:
    id: int
    partner_id: int
    sku: str
    ref: str
    state: str = "draft"
    created: str = ""


class FakeStock(Faulty):
    """`StockSystem` with Odoo's shape: partners by email, orders with a non-unique ref
    (`create_order` returns the order a ref has already, as the real adapters do)."""

    def __init__(self, skus: list[str] | None = None) -> None:
        super().__init__()
        self.skus = set(skus if skus is not None else ["BOX-CLASSIC", "BOX-SUPER"])
        self.partners: list[dict[str, Any]] = []
        self.orders: list[FakeOrder] = []
        self._lose_create_answers = 0

    def lose_next_create_answer(self) -> None:
        """The next `create_order` stores the order, then raises as if the answer was lost."""
        self._lose_create_answers += 1

    def find_order(self, ref: str) -> StockOrder | None:
        self._enter("find_order")
        return self._by_ref(ref)

    def _by_ref(self, ref: str) -> StockOrder | None:
        """A confirmed order of `ref` if any, else the oldest."""
        found = sorted(self.orders_for(ref), key=lambda o: (o.state != "sale", o.id))
        return StockOrder(found[0].id, found[0].state == "sale") if found else None

    def ensure_partner(self, customer: Customer) -> int:
        self._enter("ensure_partner")
        for partner in self.partners:
            if partner["email"] == normalise_email(customer.email):
                return partner["id"]
        partner = {
            "id": len(self.partners) + 1,
            "email": normalise_email(customer.email),
            "name": customer.name or normalise_email(customer.email),
            "address": customer.address,
        }
        self.partners.append(partner)
        return partner["id"]

    def create_order(self, partner_id: int, sku: str, ref: str) -> StockOrder:
        self._enter("create_order")
        if sku not in self.skus:
            raise PermanentError(f"no product with internal reference {sku!r} in stock")
        existing = self._by_ref(ref)
        if existing is not None:
            return existing
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        order = FakeOrder(id=len(self.orders) + 1, partner_id=partner_id, sku=sku, ref=ref, created=created)
        self.orders.append(order)
        if self._lose_create_answers:
            self._lose_create_answers -= 1
            raise TransientError("stock: connection reset after create (injected)")
        return StockOrder(order.id, confirmed=False)

    def confirm_order(self, order_id: int) -> None:
        self._enter("confirm_order")
        order = next((o for o in self.orders if o.id == order_id), None)
        if order is None:
            raise PermanentError(f"no sale order {order_id} in stock to confirm")
        order.state = "sale"

    def recent_orders(self, limit: int) -> list[OrderSummary]:
        self._enter("recent_orders")
        return [
            OrderSummary(o.ref, self.partner(o.partner_id)["name"], o.sku, o.state, o.created)
            for o in reversed(self.orders[-limit:])
        ]

    def ping(self) -> str:
        self._enter("ping")
        return f"fake stock, {len(self.orders)} orders"

    # --- inspection -------------------------------------------------------------

    def orders_for(self, ref: str) -> list[FakeOrder]:
        return [o for o in self.orders if o.ref == ref]

    def partner(self, partner_id: int) -> dict[str, Any]:
        return next(p for p in self.partners if p["id"] == partner_id)


class FakeMailer(Faulty):
    """`Mailer`: keeps every message it was asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Email] = []

    def send(self, email: Email, handover: Handover | None = None) -> None:
        """Faults scripted with `fail_next("send")` strike before the handover; with
        `fail_next("taken")`, the message is taken, then the error strikes (a kill there
        is a `BaseException`)."""
        self._enter("send")
        with (handover or nullcontext)():
            self.sent.append(email)
            self._enter("taken")

    def ping(self) -> str:
        self._enter("ping")
        return "fake mailer"

    def sent_to(self, address: str) -> list[Email]:
        return [m for m in self.sent if m.to == address]


class FakeNotifier(Faulty):
    """`Notifier`: keeps channel posts and slash-command responses."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[str, str, str]] = []
        self.responses: list[tuple[str, str]] = []

    def post(self, channel: str, text: str, thread_ts: str = "") -> None:
        self._enter("post")
        self.posts.append((channel, text, thread_ts))

    def respond(self, response_url: str, text: str) -> None:
        self._enter("respond")
        self.responses.append((response_url, text))

    def ping(self) -> str:
        self._enter("ping")
        return "fake notifier"


@dataclass
class Sent:
    queue: str
    body: dict[str, Any]
    dedupe_id: str


class FakeQueue(Faulty):
    """`Queue`: a send whose dedupe id is still waiting in that queue is a no-op, like
    the embedded queue; `sent` keeps every call anyway, so a test can tell a send from a
    dedupe."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self._waiting: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.retries: list[tuple[str, str, float]] = []
        self.deleted: list[tuple[str, str]] = []
        # The receipt of each message's latest delivery (`receive`): only it deletes.
        self._receipts: dict[str, tuple[str, str]] = {}
        self._deliveries = 0

    def send(self, queue: str, body: dict[str, Any], dedupe_id: str) -> None:
        self._enter("send")
        # A real queue stores bytes: a body that is not JSON-able must fail here too.
        stored = json.loads(json.dumps(body))
        self.sent.append(Sent(queue, stored, dedupe_id))
        self._waiting[queue].setdefault(dedupe_id, stored)

    def retry_later(self, queue: str, receipt: str, delay: float) -> None:
        self._enter("retry_later")
        self.retries.append((queue, receipt, delay))

    def delete(self, queue: str, receipt: str) -> None:
        """Only the latest delivery's receipt removes its message; any other deletes nothing."""
        self._enter("delete")
        self.deleted.append((queue, receipt))
        held = self._receipts.pop(receipt, None)
        if held is not None and held[0] == queue:
            self._waiting[queue].pop(held[1], None)

    def depth(self) -> dict[str, int]:
        return {queue: len(waiting) for queue, waiting in self._waiting.items() if waiting}

    def oldest_ages(self) -> dict[str, float]:
        """No clock here: a waiting message is 0 s old."""
        return {queue: 0.0 for queue, waiting in self._waiting.items() if waiting}

    # --- inspection and delivery ----------------------------------------------------

    def waiting(self, queue: str) -> list[dict[str, Any]]:
        """The bodies waiting in `queue`, oldest first (not removed)."""
        return list(self._waiting[queue].values())

    def events(self, queue: str) -> list[ev.Event]:
        return [ev.from_message(body) for body in self.waiting(queue)]

    def receive(self, queue: str) -> list[tuple[dict[str, Any], str]]:
        """Deliver every message waiting in `queue` (not removed), each with a new receipt:
        as SQS once the visibility timeout ran out, so the previous receipts go stale."""
        delivered = []
        for dedupe_id, body in self._waiting[queue].items():
            self._receipts = {r: held for r, held in self._receipts.items() if held != (queue, dedupe_id)}
            self._deliveries += 1
            receipt = f"receipt-{self._deliveries}"
            self._receipts[receipt] = (queue, dedupe_id)
            delivered.append((body, receipt))
        return delivered

    def take(self, queue: str) -> list[dict[str, Any]]:
        """Remove and return what waits in `queue`, as a consumer receiving it would."""
        bodies = self.waiting(queue)
        self._waiting[queue].clear()
        return bodies


class FakeDeadLetters(Faulty):
    """`DeadLetters`: letters keyed by `letter_id(message id)`, as both runtimes key them;
    a replay sends the message back on `queue`."""

    def __init__(self, queue: FakeQueue) -> None:
        super().__init__()
        self.queue = queue
        self.letters: dict[str, DeadLetter] = {}
        self.discarded: dict[str, str] = {}
        self._clock = 0.0

    def park(self, queue: str, body: dict[str, Any], reason: str, step: str, message_id: str = "") -> None:
        self._enter("park")
        lid = letter_id(message_id)
        if lid in self.letters or lid in self.discarded:
            return
        self._clock += 1
        self.letters[lid] = DeadLetter(lid, queue, copy.deepcopy(body), reason, step, self._clock)

    def list(self) -> list[DeadLetter]:
        self._enter("list")
        return sorted(self.letters.values(), key=lambda d: d.failed_at)

    def replay(self, letter_id: str) -> bool:
        self._enter("replay")
        letter = self.letters.pop(letter_id, None)
        if letter is None:
            return False
        self.queue.send(letter.queue, letter.body, dedupe_id=f"replay:{letter_id}")
        return True

    def discard(self, letter_id: str, reason: str) -> bool:
        self._enter("discard")
        if self.letters.pop(letter_id, None) is None:
            return False
        self.discarded[letter_id] = reason
        return True


class FakeMailLog(Faulty):
    """`MailLog`: statuses by (email, campaign), and the suppression list."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: dict[tuple[str, str], str] = {}
        self.history: list[tuple[str, str, str]] = []
        self.suppressed: set[str] = set()
        self.claimed_at: dict[tuple[str, str], float] = {}
        self.now = 0.0  # the clock claims are leased on; tests move it

    def status(self, email: str, campaign: str) -> str | None:
        self._enter("status")
        return self.statuses.get((email, campaign))

    def claim(self, email: str, campaign: str, lease_seconds: float) -> str:
        """As the real logs: a `sending` claim holds for `lease_seconds` of `self.now`."""
        self._enter("claim")
        status = self.statuses.get((email, campaign))
        if status == "sent":
            return "sent"
        if status in ("sending", "handing") and self.claimed_at[(email, campaign)] > self.now - lease_seconds:
            return "busy"
        if status == "handing":  # its holder died after the server had it all
            self.statuses[(email, campaign)] = "sent"
            self.history.append((email, campaign, "sent"))
            return "sent"
        self.statuses[(email, campaign)] = "sending"
        self.claimed_at[(email, campaign)] = self.now
        self.history.append((email, campaign, "sending"))
        return "claimed"

    def mark(self, email: str, campaign: str, status: str) -> None:
        self._enter("mark")
        self.statuses[(email, campaign)] = status
        self.history.append((email, campaign, status))

    def suppress(self, email: str) -> None:
        self._enter("suppress")
        self.suppressed.add(email)

    def is_suppressed(self, email: str) -> bool:
        self._enter("is_suppressed")
        return email in self.suppressed

    def sent_count(self) -> int:
        self._enter("sent_count")
        return sum(1 for status in self.statuses.values() if status == "sent")


class FakeClocks(Faulty):
    """`CustomerClocks`: each customer's clock by normalised email."""

    def __init__(self) -> None:
        super().__init__()
        self.clocks: dict[str, Clock] = {}

    def get(self, email: str) -> Clock:
        self._enter("get")
        return self.clocks.get(normalise_email(email), Clock())

    def put(self, email: str, clock: Clock) -> None:
        self._enter("put")
        self.clocks[normalise_email(email)] = clock


def build_ports(
    *,
    sheet: FakeSheet | None = None,
    stock: FakeStock | None = None,
    mailer: FakeMailer | None = None,
    notifier: FakeNotifier | None = None,
    queue: FakeQueue | None = None,
    dead_letters: FakeDeadLetters | None = None,
    mail_log: FakeMailLog | None = None,
    clocks: FakeClocks | None = None,
    catalog: Catalog | None = None,
    today: str = TODAY,
) -> Ports:
    """`Ports` over fakes (fresh ones for any not given), the built-in catalog and a fixed day."""
    q = queue or FakeQueue()
    return Ports(
        sheet=sheet or FakeSheet(),
        stock=stock or FakeStock(),
        mailer=mailer or FakeMailer(),
        notifier=notifier or FakeNotifier(),
        queue=q,
        mail_log=mail_log or FakeMailLog(),
        dead_letters=dead_letters or FakeDeadLetters(q),
        locks=LocalLocks(),
        clocks=clocks or FakeClocks(),
        catalog=catalog or Catalog.load(None),
        public_url=PUBLIC_URL,
        secret_key=SECRET_KEY,
        mail_domain=MAIL_DOMAIN,
        channel=CHANNEL,
        today=lambda: today,
        operators=frozenset({OPERATOR}),
    )


@dataclass
class World:
    """A full set of fakes and the `Ports` over them, with typed access for assertions."""

    sheet: FakeSheet = field(default_factory=FakeSheet)
    stock: FakeStock = field(default_factory=FakeStock)
    mailer: FakeMailer = field(default_factory=FakeMailer)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    queue: FakeQueue = field(default_factory=FakeQueue)
    mail_log: FakeMailLog = field(default_factory=FakeMailLog)
    clocks: FakeClocks = field(default_factory=FakeClocks)
    catalog: Catalog = field(default_factory=lambda: Catalog.load(None))
    today: str = TODAY
    dead_letters: FakeDeadLetters = field(init=False)

    def __post_init__(self) -> None:
        self.dead_letters = FakeDeadLetters(self.queue)

    @property
    def ports(self) -> Ports:
        return build_ports(
            sheet=self.sheet,
            stock=self.stock,
            mailer=self.mailer,
            notifier=self.notifier,
            queue=self.queue,
            dead_letters=self.dead_letters,
            mail_log=self.mail_log,
            clocks=self.clocks,
            catalog=self.catalog,
            today=self.today,
        )

    def handle(self, event: ev.Event) -> None:
        """Run the event's flow, through its queue message form (as a consumer would)."""
        flows.handle(ev.from_message(ev.to_message(event)), self.ports)

    def drain(self, queue: str) -> int:
        """Deliver what waits in `queue` to its flows; returns how many were handled."""
        bodies = self.queue.take(queue)
        for body in bodies:
            flows.handle(ev.from_message(body), self.ports)
        return len(bodies)


class FakeHistory(Faulty):
    """The `EventHistory` port in memory: events by id, their steps, and the search keys."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, EventRecord] = {}
        self.steps: dict[str, list[Step]] = defaultdict(list)
        self.keys: dict[str, set[str]] = defaultdict(set)

    def received(self, entry: Entry) -> bool:
        self._enter("received")
        r = entry.record
        known = self.events.get(r.event_id)
        if known is not None and known.kind:
            return False
        status = known.status if known else r.status
        self.events[r.event_id] = replace(r, status=status)
        self.steps[r.event_id].insert(0, Step(r.received_at, "received", f"{r.kind} from {r.provider}"))
        for key in entry.keys:
            self.keys[key].add(r.event_id)
        return True

    def add_step(self, event_id: str, step: Step) -> None:
        self._enter("add_step")
        known = self.events.get(event_id) or EventRecord(event_id, "", "", step.at, "queued")
        self.events[event_id] = replace(known, status=STATUS_AFTER.get(step.step, known.status))
        self.steps[event_id].append(step)

    def search(self, query: str = "", limit: int = 50) -> list[EventRecord]:
        q = query.strip()
        ids = {q} | {i for k in search_keys(q) for i in self.keys[k]} if q else set(self.events)
        found = [self.events[i] for i in ids if i in self.events]
        return sorted(found, key=lambda r: (-r.received_at, r.event_id))[:limit]

    def story(self, event_id: str) -> Story | None:
        if event_id not in self.events:
            return None
        children = sorted((r for r in self.events.values() if r.parent == event_id), key=lambda r: r.received_at)
        return Story(
            event=replace(self.events[event_id], steps=tuple(self.steps[event_id])),
            children=tuple(replace(c, steps=tuple(self.steps[c.event_id])) for c in children),
        )

    def counts_per_day(self, days: int) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.events.values():
            if r.kind:
                out.setdefault(day_of(r.received_at), {"received": 0, "dead letter": 0})["received"] += 1
        for steps in self.steps.values():
            for s in steps:
                if s.step == "dead letter":
                    out.setdefault(day_of(s.at), {"received": 0, "dead letter": 0})["dead letter"] += 1
        return dict(sorted(out.items()))
