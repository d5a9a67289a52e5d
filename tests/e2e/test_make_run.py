"""What the README tells a user to run, run exactly: `make run`, then `make demo` and the
CLI's targets from a second terminal. Only the port and the state folder come from the
environment (the Makefile reads `PORT` and `HUB_STATE_DIR`), so the test never collides
with a developer's own `make run`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from devtools.hubproc import ROOT, free_port
from tests.conftest import _REAL_SERVICE_VARS, SECRETS

pytestmark = pytest.mark.e2e

# The supervisor polls the sources every second (devtools/serve.POLL): ten polls idle,
# then the demo test keeps the same `make run` busy for as long again.
IDLE = 10.0
DEMO_RUNS = int(os.environ.get("DEMO_RUNS", "10"))  # `make demo` against one `make run`


def user_env(tmp_path: Path, port: int) -> dict[str, str]:
    """A user's shell: no secrets (the Makefile's dev ones apply), no real service, no outer make."""
    dropped = {*_REAL_SERVICE_VARS, *SECRETS, "HUB_STAGE", "HUB_PUBLIC_URL", "HUB_URL", "MAKEFLAGS", "MAKELEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("PYTEST_")}
    env.update(PORT=str(port), HUB_STATE_DIR=str(tmp_path / "state"))
    return env


def make(target: str, env: dict[str, str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)  # fmt: skip


def wait_until_serving(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"make run exited with {proc.returncode}:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"make run did not serve within {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """One `make run` for this module's tests (idle first, then `make demo` against it), in
    its own process group; stopped (the whole group) at the end."""
    tmp_path = tmp_path_factory.mktemp("make-run")
    port = free_port()
    env = user_env(tmp_path, port)
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", proc, log)
        yield env, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def test_make_run_stays_up_while_idle_and_refuses_a_second_one(make_run):
    env, log = make_run
    started = time.monotonic()
    for other, why in (({}, "is taken"), ({"PORT": str(free_port())}, "another hub already runs")):
        t0 = time.monotonic()
        second = make("run", {**env, **other}, timeout=30)
        assert second.returncode != 0, second.stdout + second.stderr
        assert why in second.stderr, second.stderr
        assert time.monotonic() - t0 < 10, "the second `make run` must exit at once"

    time.sleep(max(0.0, IDLE - (time.monotonic() - started)))
    text = log.read_text(errors="replace")
    assert "restart" not in text.lower(), text
    assert "Traceback" not in text, text
    assert text.count("Serving on") == 1, text


def test_make_demo_passes_every_time_against_one_make_run(make_run):
    env, log = make_run
    for attempt in range(DEMO_RUNS):
        demo = make("demo", env)
        assert demo.returncode == 0, f"run {attempt + 1} of {DEMO_RUNS}:\n{demo.stdout}\n{demo.stderr}"
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "restart" not in text.lower() and text.count("Serving on") == 1, text

    # The operators' views, from `make`, on the dev stage, with no other setting.
    sheet = make("sheet", env)
    assert sheet.returncode == 0 and f"{2 * DEMO_RUNS} customers" in sheet.stdout, sheet.stdout + sheet.stderr
    letters = make("replay", env)
    assert (letters.returncode, letters.stdout) == (0, "0 dead letters\n"), letters.stderr
