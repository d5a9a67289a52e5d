"""Fixtures shared by every test: a fresh state folder and settings per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRETS = {
    "STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
    "SLACK_SIGNING_SECRET": "slack-test-signing-secret",
    "FORMSTACK_HMAC_KEY": "formstack-test-key",
    "HUB_SECRET_KEY": "hub-test-secret-key",
}

# Settings a developer's shell may carry that would point a test at a real service.
_REAL_SERVICE_VARS = (
    "GOOGLE_SHEET_ID",
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SHEETS_API_URL",
    "ODOO_URL",
    "SMTP_URL",
    "MAIL_BACKEND",
    "SLACK_BOT_TOKEN",
    "SLACK_API_URL",
    "HUB_CATALOG",
    "FORMSTACK_HANDSHAKE_KEY",
    "FORMSTACK_FIELDS",
    "HUB_ADMIN_TOKEN",
    "AWS_ENDPOINT_URL",
    "SLACK_TEAM_ID",
    "HUB_PUBLIC_URL",
)
# The Slack user of devtools.payloads' commands and mentions: an operator in tests.
OPERATOR = "U0001"


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """A clean environment: embedded defaults, test secrets, state under tmp_path."""
    for name in _REAL_SERVICE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_STATE_DIR", str(tmp_path / "state"))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_OPERATORS", OPERATOR)
    from chalicelib.bootstrap import reset_hub

    reset_hub()
    yield dict(os.environ)
    reset_hub()


# --- AWS on moto: the one setup every AWS test shares ----------------------------------

AWS_REGION = "eu-west-1"
AWS_PREFIX = "test-hub-"
AWS_TABLE = "test-hub-table"


@dataclass(frozen=True)
class MotoAws:
    """The hub's AWS resources on moto: what `create_resources` made, and their names."""

    prefix: str
    table: str
    resources: dict[str, Any]


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and a region, and nothing that would send boto3 elsewhere (with
    `AWS_ENDPOINT_URL` set, moto would not intercept)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")


@pytest.fixture
def moto(aws_env) -> Iterator[None]:
    """moto's AWS, empty: every boto3 client made inside talks to it."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def moto_aws(moto) -> MotoAws:
    """moto's AWS with the hub's queues, dead-letter queues and table created."""
    from chalicelib.plumbing.aws import create_resources

    return MotoAws(AWS_PREFIX, AWS_TABLE, create_resources(AWS_PREFIX, AWS_TABLE))
