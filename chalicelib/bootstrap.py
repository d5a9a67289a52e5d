"""The composition root: settings in, adapters out, each built lazily and once.

Every choice of adapter is made here and nowhere else. A setting left unset selects
the embedded default; a real service is used as soon as its settings are given.
"""

from __future__ import annotations

import os
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from chalicelib import flows
from chalicelib.domain.catalog import Catalog
from chalicelib.errors import ConfigurationError
from chalicelib.logs import logger
from chalicelib.retry import configure_backoff
from chalicelib.settings import Settings

BACKENDS = ("sheet", "stock", "mailer", "notifier")
HEALTH_TTL = 60.0


class Hub:
    """The wired hub: one per process (per Lambda container)."""

    def __init__(self, settings: Settings) -> None:
        settings.check_runtime()
        self.settings = settings
        self._health_lock = threading.Lock()
        self._health: tuple[float, dict[str, Any] | None] = (0.0, None)
        configure_backoff(settings.retry_base)

    # --- the embedded runtime's state -------------------------------------------------

    @cached_property
    def state_dir(self) -> Path:
        return Path(self.settings.state_dir)

    @cached_property
    def db(self):
        from chalicelib.runtime.embedded.db import Database

        return Database(self.state_dir / "hub.sqlite3")

    @cached_property
    def queue(self):
        """The `Queue` and `DeadLetters` ports: SQS in AWS, else the embedded SQLite queue."""
        s = self.settings
        if s.aws_runtime:
            from chalicelib import names
            from chalicelib.runtime.aws_queue import SqsQueue

            return SqsQueue(names.prefix(s.stage), s.table, timeout=s.http_timeout)
        from chalicelib.runtime.embedded.queue import SqliteQueue

        return SqliteQueue(self.db)

    @cached_property
    def door(self):
        """Idempotent queueing: the same Powertools code path, DynamoDB or SQLite beneath."""
        from chalicelib.runtime.door import Door

        s = self.settings
        if s.aws_runtime:
            from chalicelib.runtime.aws import door_persistence

            return Door(self.queue, door_persistence(s.table, s.http_timeout))
        from chalicelib.runtime.embedded.idempotency import SqlitePersistenceLayer

        return Door(self.queue, SqlitePersistenceLayer(self.db))

    # --- the ports --------------------------------------------------------------------

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog.load(self.settings.catalog_path)

    @cached_property
    def sheet(self):
        s = self.settings
        if s.google_sheet_id:
            from chalicelib.adapters.sheet_google import GoogleSheet

            return GoogleSheet(s, self.buckets)
        from chalicelib.adapters.sheet_sqlite import SqliteSheet

        return SqliteSheet(self.db)

    @cached_property
    def buckets(self):
        """The quota buckets every consumer shares: on the DynamoDB table in AWS, else in SQLite."""
        s = self.settings
        if s.aws_runtime:
            from chalicelib.infra.token_bucket import DynamoBuckets
            from chalicelib.runtime.aws import AwsClients

            return DynamoBuckets(s.table, AwsClients(s.http_timeout))
        from chalicelib.infra.token_bucket import SqliteBuckets

        return SqliteBuckets(self.db)

    @cached_property
    def stock(self):
        s = self.settings
        if s.odoo_url:
            if s.odoo_protocol == "json2":
                from chalicelib.adapters.odoo_json2 import OdooJson2

                return OdooJson2(s)
            from chalicelib.adapters.odoo_xmlrpc import OdooXmlRpc

            return OdooXmlRpc(s)
        from chalicelib.adapters.stock_ledger import StockLedger

        return StockLedger(self.db, self.catalog)

    @cached_property
    def mailer(self):
        s = self.settings
        if s.mail_backend == "smtp":
            from chalicelib.adapters.mail_smtp import SmtpMailer

            return SmtpMailer(s)
        if s.mail_backend == "ses":
            from chalicelib.adapters.mail_ses import SesMailer

            return SesMailer(s)
        from chalicelib.adapters.mail_outbox import MailOutbox

        return MailOutbox(self.state_dir / "outbox" / "mail", s.mail_from)

    @cached_property
    def notifier(self):
        s = self.settings
        if s.slack_bot_token:
            from chalicelib.adapters.slack_web import SlackWeb

            return SlackWeb(s)
        from chalicelib.adapters.slack_outbox import SlackOutbox

        return SlackOutbox(self.state_dir / "outbox" / "slack.jsonl")

    @cached_property
    def locks(self):
        s = self.settings
        if s.aws_runtime:
            from chalicelib.runtime.locks import DynamoLocks

            return DynamoLocks(s.table, s.http_timeout)
        from chalicelib.runtime.locks import LocalLocks

        return LocalLocks()

    @cached_property
    def mail_log(self):
        s = self.settings
        if s.aws_runtime:
            from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog

            return DynamoMailLog(s.table, timeout=s.http_timeout)
        from chalicelib.adapters.mail_log_sqlite import SqliteMailLog

        return SqliteMailLog(self.db)

    @cached_property
    def clocks(self):
        """The newest Stripe facts applied to each customer: DynamoDB in AWS, else SQLite."""
        s = self.settings
        if s.aws_runtime:
            from chalicelib.adapters.clocks_dynamodb import DynamoClocks

            return DynamoClocks(s.table, timeout=s.http_timeout)
        from chalicelib.adapters.clocks_sqlite import SqliteClocks

        return SqliteClocks(self.db)

    @cached_property
    def ports(self) -> flows.Ports:
        s = self.settings
        return flows.Ports(
            sheet=self.sheet,
            stock=self.stock,
            mailer=self.mailer,
            notifier=self.notifier,
            queue=self.queue,
            mail_log=self.mail_log,
            dead_letters=self.queue,
            locks=self.locks,
            clocks=self.clocks,
            catalog=self.catalog,
            public_url=s.public_url,
            secret_key=s.require_secret_key(),
            mail_domain=s.mail_domain,
            channel=s.slack_channel,
            operators=s.slack_operators,
        )

    @cached_property
    def redelivery(self):
        """When a failed message comes back, and when it becomes a dead letter."""
        from chalicelib.redelivery import RedeliveryPolicy

        return RedeliveryPolicy(give_up_after=self.settings.give_up_after)

    # --- what the entry points call --------------------------------------------------

    def consume(self, sqs_event: Any) -> dict:
        """One SQS batch. In AWS, when the event source mapping does not report batch item
        failures (`chalice deploy`), the failures are settled here (see
        `settle_partial_batch`); the deploy template's mapping does, and says so with
        `HUB_BATCH_FAILURES=report`: then the response is Lambda's answer."""
        from chalicelib.retry import slowest_call
        from chalicelib.runtime.consumer import consume, settle_partial_batch

        # In Lambda, keep time for one record whose every call times out, and one call more
        # (the embedded runtime's context only has Lambda's shape, not its deadline).
        s = self.settings
        reserve = slowest_call(s.http_timeout) + s.http_timeout if s.in_lambda else 0.0
        response = consume(sqs_event, self.ports, self.queue, self.redelivery, reserve_seconds=reserve)
        if s.aws_runtime and not s.report_batch_failures:
            settle_partial_batch(sqs_event, response, self.queue)
        return response

    def sync_sheet(self) -> int:
        return flows.sync_sheet(self.ports)

    def health(self) -> dict[str, Any]:
        """Each backend: the adapter in use and whether it answers (and what it said).

        Probed at most once per `HEALTH_TTL` seconds: each probe spends a Sheets read, an
        SMTP login, an Odoo login, and anyone may ask for `/health`.
        """
        with self._health_lock:
            stamp, report = self._health
            if report is None or time.monotonic() - stamp > HEALTH_TTL:
                report = self._probe()
                self._health = (time.monotonic(), report)
            return report

    def _probe(self) -> dict[str, Any]:
        report: dict[str, Any] = {}
        for name in BACKENDS:
            try:
                adapter = getattr(self, name)
                report[name] = {"adapter": type(adapter).__name__, "ok": True, "detail": adapter.ping()}
            except Exception as exc:  # health reports failures, it does not raise them
                report[name] = {"adapter": "?", "ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        try:
            report["queue"] = {"adapter": type(self.queue).__name__, "ok": True, "depth": self.queue.depth()}
        except Exception as exc:
            report["queue"] = {"adapter": "?", "ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        return report

    def start_embedded_runtime(self, app: Any) -> bool:
        """Deliver queued messages inside this process (`chalice local`); not with SQS."""
        if self.settings.aws_runtime:
            return False
        from chalicelib.runtime.embedded.runner import EmbeddedRunner

        self.runner = EmbeddedRunner(app, self.queue, str(self.state_dir))
        return self.runner.start()

    def dispatcher(self, app: Any):
        """A dispatcher to drive the embedded runtime by hand (tests, the CLI)."""
        from chalicelib.runtime.embedded.dispatcher import Dispatcher

        return Dispatcher(app, self.queue)


_hub: Hub | None = None
_env: dict[str, str] = {}
_read_at = 0.0
_lock = threading.Lock()


def get_hub() -> Hub:
    """The process's hub, built on first use (after `chalice local` applied the stage's env).

    In AWS its secrets come from SSM (`chalicelib.parameters`): they are read again once
    `parameters.MAX_AGE` has passed, and the hub is rebuilt only if one of them changed
    (a rotated secret); if SSM cannot be read then, the hub keeps what it has.
    """
    global _hub, _env, _read_at
    from chalicelib import parameters

    with _lock:
        now = time.monotonic()
        if _hub is None:
            _env = parameters.environment(os.environ)
            _hub, _read_at = Hub(Settings.from_env(_env)), now
        elif _hub.settings.aws_runtime and now - _read_at > parameters.MAX_AGE:
            _read_at = now
            try:
                env = parameters.environment(os.environ)
            except ConfigurationError as exc:
                logger.warning("settings not refreshed from SSM", extra={"reason": str(exc)})
                return _hub
            if env != _env:
                _hub, _env = Hub(Settings.from_env(env)), env
        return _hub


def reset_hub() -> None:
    """Forget the hub, so the next `get_hub` reads the settings again (tests)."""
    global _hub
    from chalicelib import parameters

    with _lock:
        _hub = None
    parameters.reset()
