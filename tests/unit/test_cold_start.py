"""Every Lambda of the hub (the API's and each queue's) imports `app` on a cold start:
that import registers routes and consumers and nothing more. The SDKs, Powertools, the
flows and the dashboard come with the first request or message that needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

# What `import app` could load and must not: each is paid for by the first use instead.
DEFERRED = (
    "aws_lambda_powertools",  # the logger: built by the first line logged
    "boto3",
    "botocore",
    "stripe",
    "gspread",
    "slack_sdk",
    "jinja2",  # the dashboard's pages
    "email.parser",  # one-click unsubscribe forms in multipart
    "email_validator",
    "sqlite3",  # the embedded runtime
    "chalicelib.settings",
    "chalicelib.flows",
    "chalicelib.ports",
    "chalicelib.domain.events",
    "chalicelib.runtime.intake",
    "chalicelib.admin.views",
)


def run(code: str) -> str:
    """`code`'s output in a fresh interpreter, as Lambda would start it (not `chalice local`)."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_CHALICE_CLI_MODE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_importing_app_defers_the_sdks_the_flows_and_the_dashboard():
    out = run(f"import sys, json, app; print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))")
    assert json.loads(out.splitlines()[-1]) == []


def test_the_first_line_logged_after_importing_app_is_one_json_line():
    """Chalice must not give the `chocohub` logger a plain-text handler before Powertools
    builds it: each line would then be written twice, once without the scrubbing."""
    out = run("import app; from chalicelib.logs import logger; logger.info('cold', extra={'note': 'a@b.example'})")
    [line] = out.splitlines()
    logged = json.loads(line)
    assert (logged["message"], logged["service"], logged["note"]) == ("cold", "chocohub", "a***@b.example")
