"""What the bench's measurements share: fakes with latency, the hub and the naive baseline as
processes, senders that retry as the providers do, and a watcher of the effects."""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
import urllib.error
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devtools import payloads
from devtools.client import HubClient
from devtools.hubproc import HubProcess, free_port
from tests.fakes.services import FakeServices

SECRETS = {
    "STRIPE_WEBHOOK_SECRET": "whsec_bench",
    "SLACK_SIGNING_SECRET": "bench-slack-secret",
    "FORMSTACK_HMAC_KEY": "bench-formstack-key",
    "HUB_SECRET_KEY": "bench-secret-key",
}
# The latencies of the issue: Sheets 150 ms, Odoo 80 ms, SMTP 50 ms.
LATENCY = {"sheets": 0.150, "odoo": 0.080, "smtp": 0.050}


def base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    return {k: os.environ[k] for k in keep if k in os.environ}


def start_services(latency: bool) -> FakeServices:
    services = FakeServices().start()
    if latency:
        services.sheets.latency = LATENCY["sheets"]
        services.odoo.latency = LATENCY["odoo"]
        services.smtp.latency = LATENCY["smtp"]
    return services


def hub_env(services: FakeServices, state_dir: Path, **extra: str) -> dict[str, str]:
    return {**base_env(), **SECRETS, **services.env(), "HUB_STATE_DIR": str(state_dir), **extra}


def start_hub(env: dict[str, str], workdir: Path) -> HubProcess:
    hub = HubProcess(env, workdir / "chalice.log")
    hub.start()
    return hub


class NaiveProcess(HubProcess):
    """The naive baseline served over HTTP (`bench.naive_serve`)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.naive_serve", str(self.port)]


def start_naive(env: dict[str, str], workdir: Path) -> NaiveProcess:
    naive = NaiveProcess(env, workdir / "naive.log", port=free_port())
    naive.start()
    return naive


@dataclass(frozen=True)
class Webhook:
    key: str  # the effect it causes: a customer's email or an invoice id
    provider: str
    body: bytes


def signups_and_invoices(n: int, tag: str) -> tuple[list[Webhook], list[Webhook]]:
    """`n` sign-ups and the first paid invoice of each of those customers."""
    signups, invoices = [], []
    for i in range(n):
        email = f"{tag}{i:05d}@bench.example"
        form = payloads.formstack_form(f"{tag}-{i}", email, first=f"C{i}", box="Super", consent=True)
        signups.append(Webhook(email, "formstack", form))
        body = payloads.stripe_invoice_paid(
            f"evt_{tag}{i}", f"in_{tag}{i}", email, f"cus_{tag}{i}", "price_super_monthly"
        )
        invoices.append(Webhook(f"in_{tag}{i}", "stripe", body))
    return signups, invoices


def client(url: str) -> HubClient:
    return HubClient(
        url,
        stripe_secret=SECRETS["STRIPE_WEBHOOK_SECRET"],
        slack_secret=SECRETS["SLACK_SIGNING_SECRET"],
        formstack_key=SECRETS["FORMSTACK_HMAC_KEY"],
        timeout=60,
    )


@dataclass
class Sent:
    first_sent: float = 0.0
    acked: float = 0.0
    refusals: int = 0  # 5xx answers (the provider retries)
    latencies: list[float] = field(default_factory=list)  # each attempt's answer time


def post_all(
    url: str, webhooks: Iterable[Webhook], senders: int = 8, deadline: float = float("inf"), retry_cap: float = 8.0
) -> dict[str, Sent]:
    """Post every webhook from `senders` threads, retrying 5xx and dropped connections with
    a growing pause, as Stripe and Formstack do (scaled down), until acknowledged or `deadline`."""
    out: dict[str, Sent] = {}
    hub = client(url)

    def deliver(webhook: Webhook) -> None:
        sent = out.setdefault(webhook.key, Sent(first_sent=time.monotonic()))
        wait = 0.5
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                answer = hub.formstack(webhook.body) if webhook.provider == "formstack" else hub.stripe(webhook.body)
                status = answer.status
            except (OSError, urllib.error.URLError):
                status = 599
            sent.latencies.append(time.monotonic() - started)
            if status == 200:
                sent.acked = time.monotonic()
                return
            if status < 500:
                raise AssertionError(f"{webhook.key} refused with {status}")
            sent.refusals += 1
            time.sleep(wait)
            wait = min(wait * 2, retry_cap)

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(deliver, webhooks))
    return out


class Effects:
    """Watches the fakes: when each customer's row and each invoice's confirmed order appear."""

    def __init__(self, services: FakeServices, every: float = 0.25) -> None:
        self.services = services
        self.every = every
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Effects:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.look()
            self._stop.wait(self.every)

    def look(self) -> None:
        now = time.monotonic()
        try:  # the cheap accessors: rendering the whole sheet and every order 4 times a second
            # would take the fakes' CPU from the run being measured
            emails = self.services.customer_emails()
            refs = self.services.odoo.confirmed_refs()
        except Exception:  # the fake is mid-change; look again next time
            return
        for key in (*emails, *refs):
            self.seen.setdefault(key, now)

    def wait_for(self, keys: Iterable[str], timeout: float) -> bool:
        wanted = set(keys)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wanted <= set(self.seen):
                return True
            time.sleep(self.every)
        return False


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
