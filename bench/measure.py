"""The six measurements of `make bench`, each of the hub beside the naive baseline
(`bench.naive_app`), in the same run, against the same protocol fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness as h
from devtools.hubproc import ROOT
from devtools.state import State


@dataclass
class Row:
    figure: str
    hub: float
    naive: float
    unit: str
    target: str = ""
    better: str = "lower"  # which way is better, for the ratio's direction
    note: str = ""

    @property
    def ratio(self) -> str:
        if not self.hub or not self.naive or self.hub != self.hub or self.naive != self.naive:
            return "–"
        r = self.naive / self.hub if self.better == "lower" else self.hub / self.naive
        return f"{r:.1f}×"


def _run(code: str, env: dict[str, str]) -> float:
    """Wall time of a fresh interpreter running `code`."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _first_request(module: str, event: dict[str, Any], env: dict[str, str], state: Path) -> float:
    """Seconds of a fresh process's first request, after `import {module}` and nothing else."""
    code = FIRST_REQUEST.format(module=module)
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(event)],
        cwd=ROOT,
        env={**env, "HUB_STATE_DIR": str(state)},
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


# The child calls the app as Lambda does (`app(event, context)`), with an API Gateway proxy
# event built by the parent: no test client, payload builder or fake is imported before the
# clock starts, so whatever the first request needs (SDKs, Powertools, validators) counts.
FIRST_REQUEST = """
import json, sys, time
import {module} as target
event = json.loads(sys.argv[1])
started = time.perf_counter()
answer = target.app(event, None)
took = time.perf_counter() - started
assert answer["statusCode"] == 200, answer
print(took)
"""


def _proxy_event(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway (REST, Lambda proxy) event, as Lambda hands it to Chalice."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": "POST", "path": f"/api{path}", "stage": "api"},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def _first_events() -> dict[str, dict[str, Any]]:
    from devtools import payloads, signing

    form = payloads.formstack_form("cold-1", "cold@bench.example", box="Super")
    invoice = payloads.stripe_invoice_paid(
        "evt_cold", "in_cold", "cold@bench.example", "cus_cold", "price_super_monthly"
    )
    form_headers = signing.formstack_headers(form, h.SECRETS["FORMSTACK_HMAC_KEY"], "application/x-www-form-urlencoded")
    return {
        "formstack": _proxy_event("/webhooks/formstack", form, form_headers),
        "stripe": _proxy_event(
            "/webhooks/stripe", invoice, signing.stripe_headers(invoice, h.SECRETS["STRIPE_WEBHOOK_SECRET"])
        ),
    }


def cold_start(workdir: Path, runs: int) -> list[Row]:
    """1. `import app` (median of `runs`, minus a bare interpreter), and the first request
    per route in a fresh process (median of half as many; the naive one runs its chain
    against the fakes), each process with a state folder of its own."""
    services = h.start_services(latency=False)
    try:
        env = h.hub_env(services, workdir / "cold-state")
        bare = h.median([_run("pass", env) for _ in range(runs)])
        hub = h.median([_run("import app", env) for _ in range(runs)]) - bare
        naive = h.median([_run("import bench.naive_app", env) for _ in range(runs)]) - bare
        rows = [
            Row("cold start: `import app` (median, minus bare interpreter)", hub * 1000, naive * 1000, "ms", "≤ 150 ms")
        ]
        firsts = max(3, runs // 2)
        for route, event in _first_events().items():
            first_hub, first_naive = (
                h.median([_first_request(m, event, env, workdir / f"first-{m}-{route}-{i}") for i in range(firsts)])
                for m in ("app", "bench.naive_app")
            )
            rows.append(
                Row(
                    f"cold start: first {route} request in a fresh process",
                    first_hub * 1000,
                    first_naive * 1000,
                    "ms",
                    note="after the import; called as Lambda does, nothing else preloaded",
                )
            )
        return rows
    finally:
        services.stop()


def acknowledgement(workdir: Path, n: int, naive_n: int) -> list[Row]:
    """2. Acknowledgement p50/p99 per route, over HTTP with 8 concurrent senders while the
    hub's consumers carry the events to the fakes (with latency)."""
    rows: list[Row] = []
    services = h.start_services(latency=True)
    try:
        hub = h.start_hub(h.hub_env(services, workdir / "ack-state"), workdir)
        naive = h.start_naive(h.hub_env(services, workdir / "ack-naive"), workdir)
        try:
            signups, invoices = h.signups_and_invoices(n, "ack")
            n_signups, n_invoices = h.signups_and_invoices(naive_n, "nack")
            for route, ours, theirs in (("formstack", signups, n_signups), ("stripe", invoices, n_invoices)):
                hub_times = [t for s in h.post_all(hub.url, ours).values() for t in s.latencies]
                naive_times = [t for s in h.post_all(naive.url, theirs).values() for t in s.latencies]
                for q, name in ((0.5, "p50"), (0.99, "p99")):
                    rows.append(
                        Row(
                            f"ack {name}, {route}, HTTP, 8 senders, consumers busy",
                            h.percentile(hub_times, q) * 1000,
                            h.percentile(naive_times, q) * 1000,
                            "ms",
                            "p99 ≤ 20 ms" if name == "p99" else "",
                        )
                    )
        finally:
            hub.stop()
            naive.stop()
    finally:
        services.stop()
    return rows


def _sqs_event(bodies: list[dict[str, Any]], queue: str) -> Any:
    from chalice.app import SQSEvent

    now = str(int(time.time() * 1000))
    records = [
        {
            "messageId": f"m{time.monotonic_ns()}-{i}",
            "receiptHandle": f"r{i}",
            "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": now},
            "eventSourceARN": f"arn:aws:sqs:local:000000000000:{queue}",
        }
        for i, body in enumerate(bodies)
    ]
    return SQSEvent({"Records": records}, None)


def calls(workdir: Path, n: int = 10) -> list[Row]:
    """3. Sheets reads and writes per new customer, Odoo calls per order (new and returning
    customer), counted at the protocol fakes, at batch sizes 1 and 10."""
    import logging

    from chalicelib.bootstrap import Hub
    from chalicelib.domain import events as ev
    from chalicelib.settings import Settings

    logging.getLogger("chocohub").setLevel(logging.WARNING)  # the in-process hub's logs are not the bench's
    rows: list[Row] = []
    services = h.start_services(latency=False)
    try:
        env = h.hub_env(services, workdir / "calls-state")
        hub = Hub(Settings.from_env(env))
        hub.consume(_sqs_event([ev.to_message(ev.SignedUp("warm", email="warm@bench.example"))], "signups"))
        naive_env = h.hub_env(services, workdir / "calls-naive")
        naive_per_signup, naive_new, naive_returning = _naive_calls(services, naive_env, n)
        for batch in (1, 10):
            tag = f"b{batch}x"
            signups = [
                ev.to_message(ev.SignedUp(f"fs:{tag}{i}", email=f"{tag}{i}@bench.example", consent=True))
                for i in range(n)
            ]
            before = services.sheets.usage()
            for start in range(0, n, batch):
                hub.consume(_sqs_event(signups[start : start + batch], "signups"))
            after = services.sheets.usage()
            reads, writes = (after[k] - before[k] for k in ("read", "write"))
            rows.append(
                Row(
                    f"Sheets reads per new customer, batch {batch}",
                    reads / n,
                    naive_per_signup[0],
                    "",
                    "≤ 0.2 at batch 10",
                )
            )
            rows.append(
                Row(
                    f"Sheets writes per new customer, batch {batch}",
                    writes / n,
                    naive_per_signup[1],
                    "",
                    "≤ 0.2 at batch 10",
                )
            )
            for month, naive_figure in (("new", naive_new), ("returning", naive_returning)):
                invoices = [
                    ev.to_message(
                        ev.InvoicePaid(
                            f"st:{tag}{month}{i}",
                            invoice_id=f"in_{tag}{month}{i}",
                            email=f"{tag}{i}@bench.example",
                            stripe_customer=f"cus_{tag}{i}",
                            price_ids=("price_super_monthly",),
                        )
                    )
                    for i in range(n)
                ]
                before_odoo = len(services.odoo.calls)
                for start in range(0, n, batch):
                    hub.consume(_sqs_event(invoices[start : start + batch], "payments"))
                per_order = (len(services.odoo.calls) - before_odoo) / n
                target = "≤ 4" if month == "returning" else ""
                rows.append(
                    Row(f"Odoo calls per order, {month} customer, batch {batch}", per_order, naive_figure, "", target)
                )
    finally:
        services.stop()
    return rows


def _naive_calls(services: Any, env: dict[str, str], n: int) -> tuple[tuple[float, float], float, float]:
    """The naive chain's calls per sign-up (reads, writes) and per order (new, returning)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from chalice.test import Client

        from bench import naive_app
        from devtools import payloads, signing

        with Client(naive_app.app) as client:

            def post_signup(i: int) -> None:
                body = payloads.formstack_form(f"nc-{i}", f"nc{i}@bench.example", box="Super", consent=False)
                headers = signing.formstack_headers(
                    body, h.SECRETS["FORMSTACK_HMAC_KEY"], "application/x-www-form-urlencoded"
                )
                assert client.http.post("/webhooks/formstack", body=body, headers=headers).status_code == 200

            def post_invoice(i: int, month: str) -> None:
                body = payloads.stripe_invoice_paid(
                    f"evt_nc{month}{i}", f"in_nc{month}{i}", f"nc{i}@bench.example", f"cus_nc{i}", "price_super_monthly"
                )
                headers = signing.stripe_headers(body, h.SECRETS["STRIPE_WEBHOOK_SECRET"])
                assert client.http.post("/webhooks/stripe", body=body, headers=headers).status_code == 200

            post_signup(-1)  # warm: the worksheet opened
            before = services.sheets.usage()
            for i in range(n):
                post_signup(i)
            after = services.sheets.usage()
            per_signup = ((after["read"] - before["read"]) / n, (after["write"] - before["write"]) / n)
            figures = []
            for month in ("new", "returning"):
                before_odoo = len(services.odoo.calls)
                for i in range(n):
                    post_invoice(i, month)
                figures.append((len(services.odoo.calls) - before_odoo) / n)
        return per_signup, figures[0], figures[1]
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _quota_env(scale: float) -> dict[str, str]:
    # 54 of Google's 60 a (scaled) minute: at a minute of a few seconds, a few ms between a
    # token's reservation and the request's arrival matter (at a real minute they do not).
    return {"GOOGLE_SHEETS_QUOTA": "54", "GOOGLE_SHEETS_QUOTA_WINDOW": f"{60 / scale:g}"}


def burst(workdir: Path, n: int, scale: float, naive_window: float) -> tuple[list[Row], dict[str, Any]]:
    """4. A burst of `n` sign-ups and `n` paid invoices with fake latency and Google's quota
    on a minute shrunk `scale` times; the naive baseline's rate is measured over its first
    `naive_window` seconds of the same burst (its whole drain would take far longer)."""
    detail: dict[str, Any] = {}
    hub_run = _burst_hub(workdir, n, scale)
    naive_run = _burst_naive(workdir, n, scale, naive_window)
    detail["hub"], detail["naive"] = hub_run, naive_run
    rows = [
        Row(
            f"burst {n}+{n}: events/s to effect (minute ÷ {scale:g})",
            hub_run["rate"],
            naive_run["rate"],
            "ev/s",
            "≥ 10× naive",
            "higher",
        ),
        Row(
            f"burst {n}+{n}: time to drain",
            hub_run["drain"],
            naive_run["drain"],
            "s",
            "",
            "lower",
            "naive: extrapolated from its rate" if naive_run["extrapolated"] else "",
        ),
        Row("burst: webhook-to-effect p50", hub_run["p50"], naive_run["p50"], "s"),
        Row("burst: webhook-to-effect p99", hub_run["p99"], naive_run["p99"], "s"),
        Row("burst: Sheets 429s met", hub_run["429"], naive_run["429"], "", "", "lower"),
        Row(
            "burst: dead letters / webhooks refused (5xx)", hub_run["dead"], naive_run["refused"], "", "0 dead letters"
        ),
    ]
    return rows, detail


def _burst_hub(workdir: Path, n: int, scale: float) -> dict[str, Any]:
    services = h.start_services(latency=True)
    services.sheets.enforce_quota(60, window=60 / scale)
    state = workdir / "burst-state"
    env = h.hub_env(services, state, **_quota_env(scale), HUB_CONSUMER_THREADS="8")
    hub = h.start_hub(env, workdir)
    try:
        signups, invoices = h.signups_and_invoices(n, "burst")
        webhooks = [w for pair in zip(signups, invoices, strict=True) for w in pair]
        with h.Effects(services) as effects:
            started = time.monotonic()
            sent = h.post_all(hub.url, webhooks)
            done = effects.wait_for(sent, timeout=480)
        drained = max(effects.seen.get(k, time.monotonic()) for k in sent) - started
        lat = [effects.seen[k] - s.first_sent for k, s in sent.items() if k in effects.seen]
        rss = h.peak_rss_mib(hub.proc.pid) if hub.proc else float("nan")
        return {
            "rate": 2 * n / drained if done else len(lat) / drained,
            "drain": drained,
            "p50": h.percentile(lat, 0.5),
            "p99": h.percentile(lat, 0.99),
            "429": services.sheets.quota_refusals,
            "dead": len(State(state).dead_letters()),
            "complete": done,
            "rss_mib": rss,
            "sheets": services.sheets.usage(),
        }
    finally:
        hub.stop()
        services.stop()


def _burst_naive(workdir: Path, n: int, scale: float, window: float) -> dict[str, Any]:
    services = h.start_services(latency=True)
    services.sheets.enforce_quota(60, window=60 / scale)
    naive = h.start_naive(h.hub_env(services, workdir / "burst-naive"), workdir)
    try:
        signups, invoices = h.signups_and_invoices(n, "nburst")
        webhooks = [w for pair in zip(signups, invoices, strict=True) for w in pair]
        started = time.monotonic()
        sent = h.post_all(naive.url, webhooks, deadline=started + window)
        elapsed = time.monotonic() - started
        done = [s for s in sent.values() if s.acked]
        lat = [s.acked - s.first_sent for s in done]
        rate = len(done) / elapsed
        return {
            "rate": rate,
            "drain": elapsed if len(done) == 2 * n else 2 * n / rate,
            "extrapolated": len(done) < 2 * n,
            "p50": h.percentile(lat, 0.5),
            "p99": h.percentile(lat, 0.99),
            "429": services.sheets.quota_refusals,
            "refused": sum(s.refusals for s in sent.values()),
            "done": len(done),
        }
    finally:
        naive.stop()
        services.stop()


def outage(workdir: Path, n: int, scale: float, minutes: float = 30) -> list[Row]:
    """5. Sheets answers 503 for `minutes` (scaled) minutes mid-run: dead letters, and the
    time to drain once it is back."""
    down = minutes * 60 / scale
    hub_dead, hub_after = _outage_run(workdir, n, down, naive=False)
    naive_refused, naive_after = _outage_run(workdir, n, down, naive=True)
    return [
        Row(
            f"outage: Sheets 503 for {minutes:g} min (÷ {scale:g}): dead letters / webhooks refused",
            hub_dead,
            naive_refused,
            "",
            "0 dead letters",
        ),
        Row("outage: drain after Sheets is back", hub_after, naive_after, "s"),
    ]


def _outage_run(workdir: Path, n: int, down: float, naive: bool) -> tuple[float, float]:
    services = h.start_services(latency=True)
    tag = "nout" if naive else "out"
    state = workdir / f"{tag}-state"
    env = h.hub_env(services, state)
    proc = h.start_naive(env, workdir) if naive else h.start_hub(env, workdir)
    try:
        signups, invoices = h.signups_and_invoices(n, tag)
        webhooks = [w for pair in zip(signups, invoices, strict=True) for w in pair]
        with h.Effects(services) as effects:
            services.sheets.unavailable = True
            import threading

            posting = threading.Thread(target=lambda: sent.update(h.post_all(proc.url, webhooks, retry_cap=down / 4)))
            sent: dict[str, h.Sent] = {}
            posting.start()
            time.sleep(down)
            services.sheets.unavailable = False
            back = time.monotonic()
            posting.join()
            effects.wait_for([w.key for w in webhooks], timeout=300)
        after = max(effects.seen.get(w.key, time.monotonic()) for w in webhooks) - back
        lost = float(sum(s.refusals for s in sent.values())) if naive else float(len(State(state).dead_letters()))
        return lost, after
    finally:
        proc.stop()
        services.stop()


# Prices as FIELD-NOTES.md quotes them (AWS us-east-1 list prices; Zapier Professional from a
# third-party FAQ), read on the bench's date: check before publishing.
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_SECOND = 0.0000166667
SQS_REQUEST = 0.40 / 1e6
DYNAMODB_WRITE = 0.625 / 1e6
API_GATEWAY_REQUEST = 3.50 / 1e6
ZAPIER_TASK = 89 / 5000


def cost(ack_ms: float, consume_ms_per_batch: float, naive_ms: float, memory_mb: float = 128) -> list[Row]:
    """6. Cost per 1,000 sign-ups on AWS (email sending apart), from the measured durations,
    beside the naive chain in one Lambda, and a hosted automation service's per-task price."""
    gb = memory_mb / 1024
    per_signup = (
        API_GATEWAY_REQUEST
        + LAMBDA_REQUEST
        + LAMBDA_GB_SECOND * gb * max(ack_ms, 1) / 1000  # the door
        + 2 * DYNAMODB_WRITE  # the door's idempotency record (in progress, then done)
        + 3 * SQS_REQUEST / 1  # send; receive and delete counted per batch below, ~1 each
        + (LAMBDA_REQUEST + LAMBDA_GB_SECOND * gb * consume_ms_per_batch / 1000) / 10  # one consumer per 10
        + 2 * DYNAMODB_WRITE  # the customer's lock (put, delete)
        + 0.2 * DYNAMODB_WRITE  # the Sheets bucket: ~2 requests per batch of 10
        + SQS_REQUEST  # the marketing email's message
    )
    naive = API_GATEWAY_REQUEST + LAMBDA_REQUEST + LAMBDA_GB_SECOND * gb * naive_ms / 1000
    # A hosted automation: a sign-up zap of 3 steps (find row, create/update row, send email) = 3 tasks.
    return [
        Row(
            "cost per 1,000 sign-ups on AWS (USD, email apart)",
            per_signup * 1000,
            naive * 1000,
            "$",
            "",
            "lower",
            f"vs Zapier Professional: ${3 * ZAPIER_TASK * 1000:.2f} (3 tasks each at ${ZAPIER_TASK:.4f})",
        ),
    ]
