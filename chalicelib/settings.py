"""Typed settings, read from the process environment (it wins), then defaults.

A setting left unset selects the embedded default (see the README's table). Secrets
have no default outside the dev stage: `HUB_STAGE` is set per stage in
`.chalice/config.json`, and only `dev` may fall back to the dev key.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from chalicelib.errors import ConfigurationError
from chalicelib.names import DEFAULT_STAGE
from chalicelib.redelivery import DEFAULT_GIVE_UP_AFTER, MAX_GIVE_UP_AFTER

DEFAULT_FORMSTACK_FIELDS = {
    "name": "Name",
    "email": "Email",
    "address": "Address",
    "box": "Box",
    "consent": "Newsletter",
}

# Only ever used when HUB_STAGE=dev: signs unsubscribe links on a laptop.
DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"


def _read_secret_file(value: str) -> str:
    """`GOOGLE_SERVICE_ACCOUNT` may hold the JSON itself or a path to it."""
    if value.lstrip().startswith("{"):
        return value
    path = Path(value).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"GOOGLE_SERVICE_ACCOUNT: cannot read {path}: {exc}") from exc


_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def _slack_operators(raw: str) -> frozenset[str]:
    """`SLACK_OPERATORS`: Slack user ids (U…/W…), comma-separated."""
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    wrong = [i for i in ids if not _SLACK_USER_ID.match(i)]
    if wrong:
        raise ConfigurationError(
            f"SLACK_OPERATORS must list Slack user ids such as U024BE7LH (profile → ⋮ → Copy member ID), not {wrong}"
        )
    return frozenset(ids)


def is_loopback_url(url: str) -> bool:
    """True when `url` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive_number(value: str, name: str, unit: str = "") -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not math.isfinite(number) or number <= 0:
        raise ConfigurationError(f"{name} must be a positive number{unit}, not {value!r}")
    return number


def _positive_float(value: str, name: str) -> float:
    return _positive_number(value, name, " of seconds")


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _duration(value: str, name: str, most: float) -> float:
    """Seconds from `86400`, `90s`, `30m`, `24h` or `2d`, within (0, most]."""
    text = value.strip().lower().replace(" ", "")
    number, unit = text, "s"
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            number, unit = text[: -len(suffix)], suffix
            break
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds <= 0 or seconds > most:
        raise ConfigurationError(
            f"{name} must be a duration such as 24h, 90m or 3600 (seconds), at most {most / 86400:g} days,"
            f" not {value!r}"
        )
    return seconds


def _positive_int(value: str, name: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise ConfigurationError(f"{name} must be a whole number of days above 0, not {value!r}")
    return int(value)


def _formstack_fields(raw: str) -> dict[str, str]:
    """The hub-field → form-label map: known hub fields only, each with a non-empty label."""
    fields = dict(DEFAULT_FORMSTACK_FIELDS)
    if not raw:
        return fields
    example = 'a JSON object such as {"email": "E-mail address"}'
    try:
        given = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"FORMSTACK_FIELDS must be {example}") from exc
    if not isinstance(given, dict):
        raise ConfigurationError(f"FORMSTACK_FIELDS must be {example}")
    unknown = sorted(set(given) - set(DEFAULT_FORMSTACK_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"FORMSTACK_FIELDS: unknown hub fields {unknown}; known: {sorted(DEFAULT_FORMSTACK_FIELDS)}"
        )
    for key, label in given.items():
        if not isinstance(label, str) or not label.strip():
            raise ConfigurationError(f"FORMSTACK_FIELDS: the label of {key!r} must be the form field's label")
        fields[key] = label.strip()
    return fields


@dataclass(frozen=True)
class Settings:
    stage: str = "prod"
    state_dir: str = ".hub"
    public_url: str = "http://127.0.0.1:8000"
    # False when HUB_PUBLIC_URL is unset: the API then takes its URL from each request.
    public_url_given: bool = False
    secret_key: str = ""
    admin_token: str = ""
    catalog_path: str = ""
    formstack_hmac_key: str = ""
    formstack_handshake_key: str = ""
    formstack_fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FORMSTACK_FIELDS))
    stripe_webhook_secret: str = ""
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str = "#orders"
    slack_operators: frozenset[str] = frozenset()
    slack_team_id: str = ""
    google_sheet_id: str = ""
    google_sheet_worksheet: str = "Customers"
    google_service_account: str = ""
    google_sheets_api_url: str = "https://sheets.googleapis.com"
    google_sheets_quota: float = 60.0
    google_sheets_quota_window: float = 60.0
    odoo_url: str = ""
    odoo_db: str = ""
    odoo_user: str = ""
    odoo_api_key: str = ""
    odoo_protocol: str = "xmlrpc"
    mail_from: str = "chocohub <hello@chocohub.localhost>"
    smtp_url: str = ""
    mail_backend: str = "outbox"
    http_timeout: float = 10.0
    retry_base: float = 0.5
    give_up_after: float = DEFAULT_GIVE_UP_AFTER
    consumer_threads: int = 4
    table: str = ""
    history_days: int = 30
    in_lambda: bool = False
    # Set by the deploy template where the event source mapping has ReportBatchItemFailures.
    report_batch_failures: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting; a wrong one raises `ConfigurationError` naming it."""
        env = os.environ if env is None else env

        def get(name: str, default: str = "") -> str:
            value = env.get(name, "").strip()
            return value or default

        stage = get("HUB_STAGE", DEFAULT_STAGE)
        in_lambda = bool(get("AWS_LAMBDA_FUNCTION_NAME"))
        public_url = get("HUB_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
        # The dev key is public (it is in this file): never let a deployed stage use it,
        # even one named dev (`chalice deploy` without --stage deploys dev), nor a laptop
        # whose links point elsewhere (a tunnel to real services): anyone could forge them.
        dev_key = stage == "dev" and not in_lambda and is_loopback_url(public_url)
        secret_key = get("HUB_SECRET_KEY", DEV_SECRET_KEY if dev_key else "")
        fields = _formstack_fields(get("FORMSTACK_FIELDS"))
        protocol = get("ODOO_PROTOCOL", "xmlrpc").lower()
        if protocol not in ("xmlrpc", "json2"):
            raise ConfigurationError(f"ODOO_PROTOCOL must be xmlrpc or json2, not {protocol!r}")
        smtp_url = get("SMTP_URL")
        backend = get("MAIL_BACKEND", "smtp" if smtp_url else "outbox").lower()
        if backend not in ("ses", "smtp", "outbox"):
            raise ConfigurationError(f"MAIL_BACKEND must be ses, smtp or outbox, not {backend!r}")
        if backend == "smtp" and not smtp_url:
            raise ConfigurationError("MAIL_BACKEND=smtp needs SMTP_URL (smtp://user:pass@host:port)")
        slack_api_url = get("SLACK_API_URL", "https://slack.com/api/")
        account = get("GOOGLE_SERVICE_ACCOUNT")
        return cls(
            stage=stage,
            state_dir=get("HUB_STATE_DIR", ".hub"),
            public_url=public_url,
            public_url_given=bool(get("HUB_PUBLIC_URL")),
            secret_key=secret_key,
            admin_token=get("HUB_ADMIN_TOKEN"),
            catalog_path=get("HUB_CATALOG"),
            formstack_hmac_key=get("FORMSTACK_HMAC_KEY"),
            formstack_handshake_key=get("FORMSTACK_HANDSHAKE_KEY"),
            formstack_fields=fields,
            stripe_webhook_secret=get("STRIPE_WEBHOOK_SECRET"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            # slack_sdk drops the last path segment of a base URL without its trailing slash.
            slack_api_url=slack_api_url if slack_api_url.endswith("/") else slack_api_url + "/",
            slack_channel=get("SLACK_CHANNEL", "#orders"),
            slack_operators=_slack_operators(get("SLACK_OPERATORS")),
            slack_team_id=get("SLACK_TEAM_ID"),
            google_sheet_id=get("GOOGLE_SHEET_ID"),
            google_sheet_worksheet=get("GOOGLE_SHEET_WORKSHEET", "Customers"),
            google_service_account=_read_secret_file(account) if account else "",
            google_sheets_api_url=get("GOOGLE_SHEETS_API_URL", "https://sheets.googleapis.com").rstrip("/"),
            google_sheets_quota=_positive_number(get("GOOGLE_SHEETS_QUOTA", "60"), "GOOGLE_SHEETS_QUOTA"),
            google_sheets_quota_window=_positive_float(
                get("GOOGLE_SHEETS_QUOTA_WINDOW", "60"), "GOOGLE_SHEETS_QUOTA_WINDOW"
            ),
            odoo_url=get("ODOO_URL").rstrip("/"),
            odoo_db=get("ODOO_DB"),
            odoo_user=get("ODOO_USER"),
            odoo_api_key=get("ODOO_API_KEY"),
            odoo_protocol=protocol,
            mail_from=get("MAIL_FROM", "chocohub <hello@chocohub.localhost>"),
            smtp_url=smtp_url,
            mail_backend=backend,
            http_timeout=_positive_float(get("HUB_HTTP_TIMEOUT", "10"), "HUB_HTTP_TIMEOUT"),
            retry_base=_positive_float(get("HUB_RETRY_BASE", "0.5"), "HUB_RETRY_BASE"),
            consumer_threads=int(_positive_number(get("HUB_CONSUMER_THREADS", "4"), "HUB_CONSUMER_THREADS")),
            give_up_after=_duration(get("HUB_GIVE_UP_AFTER", "24h"), "HUB_GIVE_UP_AFTER", MAX_GIVE_UP_AFTER),
            table=get("HUB_TABLE"),
            history_days=_positive_int(get("HUB_HISTORY_DAYS", "30"), "HUB_HISTORY_DAYS"),
            in_lambda=in_lambda,
            report_batch_failures=get("HUB_BATCH_FAILURES").lower() == "report",
        )

    @property
    def aws_runtime(self) -> bool:
        """SQS + DynamoDB instead of the embedded SQLite runtime (`HUB_TABLE` set)."""
        return bool(self.table)

    def check_runtime(self) -> None:
        """Refuse to run half-configured: without the key that signs unsubscribe links
        (outside dev), or in Lambda on state that would vanish with the container."""
        if not self.secret_key:
            raise ConfigurationError(
                "HUB_SECRET_KEY is not set (it signs unsubscribe links; only the dev stage has a default,"
                " and only while HUB_PUBLIC_URL is a loopback address)"
            )
        if self.in_lambda and not self.table:
            raise ConfigurationError("HUB_TABLE is not set: in AWS the hub needs its DynamoDB table and SQS queues")
        if not self.in_lambda:
            return
        missing = [
            name
            for name, given in (
                ("GOOGLE_SHEET_ID", self.google_sheet_id),
                ("ODOO_URL", self.odoo_url),
                ("SMTP_URL or MAIL_BACKEND=ses", self.mail_backend != "outbox"),
                ("SLACK_BOT_TOKEN", self.slack_bot_token),
            )
            if not given
        ]
        if missing:
            raise ConfigurationError(
                f"in AWS, set {', '.join(missing)}: the embedded sheet, stock ledger and outboxes live on a"
                " laptop's disk, not in Lambda"
            )

    @property
    def mail_domain(self) -> str:
        """The sender's domain, for Message-IDs."""
        return self.mail_from.rsplit("@", 1)[-1].strip("> ") or "chocohub.localhost"

    def require_secret_key(self) -> str:
        if not self.secret_key:
            raise ConfigurationError("HUB_SECRET_KEY is not set (it signs unsubscribe links)")
        return self.secret_key
