"""Plan, play and judge one chaos run.

N customers each sign up (Formstack) and pay (Stripe `invoice.paid`): 2N events. 10 % of
them are delivered twice, all are shuffled; 1 % are poison (a box or a price the catalog
does not know) and must end as dead letters, and nothing else may. Every service fails
20 % of its requests (429, 500, 503, timeouts, resets), and the hub is killed with
SIGKILL and restarted twice mid-run. The senders behave like the providers: they retry
until they get a 200.
"""

from __future__ import annotations

import http.client
import math
import random
import signal
import threading
import time
import urllib.error
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools import payloads
from devtools.client import HubClient
from devtools.hubproc import HubProcess
from devtools.state import State
from tests.fakes.services import FakeServices

SECRETS = {
    "STRIPE_WEBHOOK_SECRET": "whsec_chaos",
    "SLACK_SIGNING_SECRET": "chaos-slack",
    "FORMSTACK_HMAC_KEY": "chaos-formstack",
    "HUB_SECRET_KEY": "chaos-secret",
}
PRICES = {"Classic": "price_classic_monthly", "Super": "price_super_monthly"}


@dataclass(frozen=True)
class Delivery:
    key: str  # the hub's event id: formstack:<UniqueID> or stripe:<event id>
    provider: str
    body: bytes


@dataclass
class Plan:
    deliveries: list[Delivery]
    customers: set[str]
    orders: set[str]
    emails: set[str]
    poison: set[str]
    events: int


def make_plan(n: int, seed: int = 7) -> Plan:
    rng = random.Random(seed)
    poison_total = max(2, round(0.01 * 2 * n))
    indices = rng.sample(range(n), poison_total)
    bad_payments, bad_signups = set(indices[: poison_total // 2]), set(indices[poison_total // 2 :])
    base: list[Delivery] = []
    plan = Plan([], set(), set(), set(), set(), 2 * n)
    for i in range(n):
        email = f"c{i:05d}@chaos.example"
        consent = i % 2 == 0
        box = "Super" if i % 3 == 0 else "Classic"
        signup_key, payment_key = f"formstack:chaos-{i}", f"stripe:evt_chaos_{i}"
        form = payloads.formstack_form(
            f"chaos-{i}", email, first=f"C{i}", box="Mystery" if i in bad_signups else box, consent=consent
        )
        price = "price_poison" if i in bad_payments else PRICES[box]
        invoice = payloads.stripe_invoice_paid(f"evt_chaos_{i}", f"in_chaos_{i}", email, f"cus_chaos_{i}", price)
        base += [Delivery(signup_key, "formstack", form), Delivery(payment_key, "stripe", invoice)]
        plan.customers.add(email)
        if i in bad_payments:
            plan.poison.add(payment_key)
        else:
            plan.orders.add(f"in_chaos_{i}")
        if i in bad_signups:
            plan.poison.add(signup_key)
        elif consent:
            plan.emails.add(email)
    duplicates = rng.sample(base, round(0.1 * len(base)))
    plan.deliveries = base + duplicates
    rng.shuffle(plan.deliveries)
    return plan


@dataclass
class Report:
    events: int
    deliveries: int
    acknowledged: int
    customers: int
    orders: int
    emails: int
    dead_letters: Counter = field(default_factory=Counter)
    lost: dict[str, int] = field(default_factory=dict)
    duplicated: dict[str, int] = field(default_factory=dict)
    unexpected_dead: list[str] = field(default_factory=list)
    missing_dead: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            sum(self.lost.values()) == 0
            and sum(self.duplicated.values()) == 0
            and not self.unexpected_dead
            and not self.missing_dead
        )

    def table(self) -> str:
        rows = [
            ("events (sign-ups + payments)", self.events),
            ("deliveries sent (with duplicates)", self.deliveries),
            ("acknowledged (200)", self.acknowledged),
            ("customers in the sheet", self.customers),
            ("orders in Odoo", self.orders),
            ("marketing emails sent", self.emails),
            ("dead letters", sum(self.dead_letters.values())),
            ("lost", sum(self.lost.values())),
            ("duplicated", sum(self.duplicated.values())),
            ("faults injected", sum(self.faults.values())),
            ("hub killed (SIGKILL) and restarted", self.kills),
            ("wall time (s)", f"{self.seconds:.0f}"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"| {'what'.ljust(width)} | count |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
        lines.append("")
        lines += [f"dead letter reason: {reason} × {n}" for reason, n in self.dead_letters.most_common()]
        lines.append(f"faults by kind: {dict(sorted(self.faults.items()))}")
        for label, values in (("lost", self.lost), ("duplicated", self.duplicated)):
            detail = {k: v for k, v in values.items() if v}
            if detail:
                lines.append(f"{label}: {detail}")
        if self.unexpected_dead:
            lines.append(f"dead letters that are not poison: {self.unexpected_dead[:10]}")
        if self.missing_dead:
            lines.append(f"poison payloads not dead-lettered: {self.missing_dead[:10]}")
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


class Chaos:
    def __init__(self, n: int, workdir: Path, fault_rate: float = 0.2, kills: int = 2, timeout: float = 1800) -> None:
        self.plan = make_plan(n)
        self.workdir = workdir
        self.fault_rate = fault_rate
        self.kills_wanted = kills
        self.timeout = timeout
        # The hub's HTTP timeout: short, so that injected timeouts cost little, but longer
        # than a healthy read of the whole sheet (a batch reads all of it) on a loaded
        # machine: at 0.5 s a 2,000-row sheet timed out most reads and the run never drained.
        self.http_timeout = 0.5 if n <= 200 else 2.0
        self.services = FakeServices()
        self.hub: HubProcess | None = None
        self._acked = 0
        self._lock = threading.Lock()
        self._restarting = threading.Event()

    def _client(self) -> HubClient:
        assert self.hub is not None
        return HubClient(
            self.hub.url,
            stripe_secret=SECRETS["STRIPE_WEBHOOK_SECRET"],
            slack_secret=SECRETS["SLACK_SIGNING_SECRET"],
            formstack_key=SECRETS["FORMSTACK_HMAC_KEY"],
            timeout=30,
        )

    def _deliver(self, delivery: Delivery, deadline: float) -> bool:
        """Post until acknowledged, as the providers do (they retry on errors and 5xx)."""
        wait = 0.1
        while time.monotonic() < deadline:
            client = self._client()
            try:
                answer = (
                    client.formstack(delivery.body)
                    if delivery.provider == "formstack"
                    else client.stripe(delivery.body)
                )
                if answer.status == 200:
                    with self._lock:
                        self._acked += 1
                    return True
                if answer.status < 500:
                    raise AssertionError(f"{delivery.key} refused with {answer.status}: {answer.body[:200]!r}")
            except (OSError, urllib.error.URLError, http.client.HTTPException):
                pass  # the hub is down (killed), or died mid-answer (IncompleteRead): retry
            time.sleep(wait)
            wait = min(wait * 2, 2.0)
        return False

    def _killer(self, total: int, stop: threading.Event) -> None:
        marks = [math.ceil(total * (k + 1) / (self.kills_wanted + 1)) for k in range(self.kills_wanted)]
        for mark in marks:
            while not stop.is_set() and self._acked < mark:
                time.sleep(0.05)
            # Every delivery acknowledged before this mark was seen (a restarted hub answers
            # webhooks before its /health does, and may take the rest meanwhile): the kill
            # still lands in the consumers' work, which goes on after the last acknowledgement.
            assert self.hub is not None
            self.hub.kill(signal.SIGKILL)
            self.kills += 1
            time.sleep(0.3)
            self.hub.start()

    def run(self) -> Report:
        started = time.monotonic()
        self.kills = 0
        self.services.start()
        try:
            return self._run(started)
        finally:
            if self.hub:
                self.hub.kill()
            self.services.stop()

    def _run(self, started: float) -> Report:
        state_dir = self.workdir / "state"
        env = {
            **_base_env(),
            **SECRETS,
            **self.services.env(),
            "HUB_STATE_DIR": str(state_dir),
            "HUB_HTTP_TIMEOUT": str(self.http_timeout),
            "HUB_RETRY_BASE": "0.02",
        }
        self.hub = HubProcess(env, self.workdir / "chalice.log")
        env["HUB_PUBLIC_URL"] = self.hub.url
        self.hub.start()
        # Retry-After: 0 keeps thousands of injected 429s quick; the header is still honoured.
        self.services.set_fault_rate(self.fault_rate, timeout_delay=self.http_timeout + 0.3, retry_after="0")

        deadline = time.monotonic() + self.timeout
        stop = threading.Event()
        killer = threading.Thread(target=self._killer, args=(len(self.plan.deliveries), stop), daemon=True)
        killer.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            acked = list(pool.map(lambda d: self._deliver(d, deadline), self.plan.deliveries))
        stop.set()
        killer.join()

        state = State(state_dir)
        quiet_since = None
        while time.monotonic() < deadline:  # until every queue has stayed empty for 3 s
            if state.queued() == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 3:
                    break
            else:
                quiet_since = None
            time.sleep(0.5)
        return self._judge(state, acked, time.monotonic() - started)

    def _judge(self, state: State, acked: list[bool], seconds: float) -> Report:
        plan = self.plan
        rows = self.services.customers()
        row_emails = Counter(r.get("Email", "").strip().lower() for r in rows)
        orders = self.services.orders()
        confirmed = Counter(o["client_order_ref"] for o in orders if o["state"] == "sale")
        refs = Counter(o["client_order_ref"] for o in orders)
        mails = Counter(str(m["To"]).strip().lower() for m in self.services.emails())
        dead = state.dead_letters()
        import json

        dead_keys = Counter(json.loads(d["body"]).get("event_id", "?") for d in dead)
        reasons = Counter(_reason_kind(d["reason"]) for d in dead)
        acked_keys = {d.key for d, ok in zip(plan.deliveries, acked, strict=True) if ok}
        return Report(
            events=plan.events,
            deliveries=len(plan.deliveries),
            acknowledged=sum(acked),
            customers=len(row_emails),
            orders=len(refs),
            emails=sum(mails.values()),
            dead_letters=reasons,
            lost={
                "events not acknowledged": len({d.key for d in plan.deliveries} - acked_keys),
                "customers": len(plan.customers - set(row_emails)),
                "orders (confirmed)": len(plan.orders - set(confirmed)),
                "emails": len(plan.emails - set(mails)),
            },
            duplicated={
                "sheet rows": sum(n - 1 for n in row_emails.values() if n > 1),
                "orders": sum(n - 1 for n in refs.values() if n > 1),
                "emails": sum(n - 1 for n in mails.values() if n > 1),
                "dead letters": sum(n - 1 for n in dead_keys.values() if n > 1),
                "emails to customers without consent": len(set(mails) - plan.emails),
                "orders never paid": len(set(refs) - plan.orders),
            },
            unexpected_dead=sorted(set(dead_keys) - plan.poison),
            missing_dead=sorted(plan.poison - set(dead_keys)),
            faults=self.services.injected(),
            kills=self.kills,
            seconds=seconds,
        )


def _reason_kind(reason: str) -> str:
    """The reason without its particulars (the price or the box), to group letters."""
    for marker in ("Stripe price", "form value"):
        if marker in reason:
            return f"no box in the catalog has this {marker}"
    return reason[:100]


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: os.environ[k] for k in keep if k in os.environ}
