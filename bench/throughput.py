"""`python -m bench.throughput`: how fast the embedded hub takes and carries webhooks.

Starts the real `chalice local` on the embedded defaults, posts BENCH_EVENTS signed
Stripe `invoice.paid` webhooks from BENCH_CLIENTS concurrent senders, and prints the
acknowledgement latency (p50/p95/max), the acceptance rate, the rate at which the
dispatcher carries them to a confirmed order (each also writes the sheet and queues a
Slack message), and the hub's peak memory.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devtools import payloads
from devtools.client import HubClient
from devtools.hubproc import HubProcess
from devtools.state import State

SECRET = "whsec_bench"


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    n = int(os.environ.get("BENCH_EVENTS", "500"))
    clients = int(os.environ.get("BENCH_CLIENTS", "8"))
    with tempfile.TemporaryDirectory(prefix="chocohub-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
        env.update(STRIPE_WEBHOOK_SECRET=SECRET, HUB_STATE_DIR=f"{tmp}/state", HUB_SECRET_KEY="bench")
        hub = HubProcess(env, Path(tmp) / "chalice.log")
        hub.start()
        client = HubClient(hub.url, stripe_secret=SECRET, slack_secret="", formstack_key="")
        bodies = [
            payloads.stripe_invoice_paid(
                f"evt_b{i}", f"in_b{i}", f"b{i}@bench.example", f"cus_b{i}", "price_super_monthly"
            )
            for i in range(n)
        ]

        def post(body: bytes) -> float:
            started = time.perf_counter()
            assert client.stripe(body).status == 200
            return time.perf_counter() - started

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = sorted(pool.map(post, bodies))
        accepted = time.perf_counter() - t0
        state = State(Path(tmp) / "state")
        while len([o for o in state.orders() if o["state"] == "sale"]) < n or state.queued():
            time.sleep(0.05)
        carried = time.perf_counter() - t0
        rss = _peak_rss_mib(hub.proc.pid)
        hub.stop()

    def ms(x: float) -> str:
        return f"{x * 1000:.1f} ms"

    print(f"events: {n} invoice.paid webhooks, {clients} concurrent senders, embedded adapters")
    print(
        f"acknowledged: {n / accepted:.0f} webhooks/s; latency p50 {ms(statistics.median(latencies))}, "
        f"p95 {ms(latencies[int(0.95 * (n - 1))])}, max {ms(latencies[-1])}"
    )
    print(
        f"carried to a confirmed order, with its Slack message: {n / carried:.0f} events/s "
        f"({carried:.1f} s for all, counted from the first post)"
    )
    print(f"hub peak memory (VmHWM): {rss:.0f} MiB")


if __name__ == "__main__":
    main()
