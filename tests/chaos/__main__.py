"""`python -m tests.chaos`: one chaos run of CHAOS_EVENTS customers (default 100), its table
printed; the exit code is 0 only when nothing was lost or duplicated and the dead letters
are exactly the poison payloads."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from tests.chaos.scenario import Chaos


def main() -> int:
    n = int(os.environ.get("CHAOS_EVENTS", "100"))
    with tempfile.TemporaryDirectory(prefix="chocohub-chaos-") as tmp:
        print(f"chaos: {n} customers, {2 * n} events, 20 % faults, 2 kills; working in {tmp}", flush=True)
        report = Chaos(n, Path(tmp)).run()
        print(report.table())
        if not report.ok:
            print(f"hub log kept at {Path(tmp) / 'chalice.log'} until exit", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
