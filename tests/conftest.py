"""Fixtures shared by every test: a fresh state folder and settings per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
