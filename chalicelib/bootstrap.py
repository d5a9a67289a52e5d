"""The composition root: settings in, adapters out, each built lazily and once.

Every choice of adapter is made here and nowhere else. A setting left unset selects
the embedded default; a real service is used as soon as its settings are given.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.errors import ConfigurationError
from chalicelib.logs import logger

# Only names for the type checker here: `app` imports this module, and the flows, the
# ports' domain types and the settings' parsing are paid for by the first request or
# message that needs them, not by every Lambda cold start (see `get_hub`).
if TYPE_CHECKING:
    from chalicelib.domain.catalog import Catalog
    from chalicelib.plumbing.aws import AwsClients
    from chalicelib.plumbing.sqlite import Database
    from chalicelib.plumbing.token_bucket import TokenBuckets
    from chalicelib.ports import (
        CustomerClocks,
        CustomerSheet,
        DeadLetters,
        EventHistory,
        Locks,
        Mailer,
        MailLog,
        Notifier,
        Ports,
        Queue,
        StockSystem,
    )
    from chalicelib.redelivery import RedeliveryPolicy
    from chalicelib.runtime.aws.queue import SqsQueue
    from chalicelib.runtime.door import Door
    from chalicelib.runtime.embedded.dispatcher import Dispatcher
    from chalicelib.runtime.embedded.queue import SqliteQueue
    from chalicelib.runtime.embedded.worker import DispatcherProcess
    from chalicelib.runtime.intake import Intake
    from chalicelib.runtime.recording import Recorder
    from chalicelib.runtime.side_by_side import SideBySide
    from chalicelib.settings import Settings

# The ports whose adapters /health probes (the queue is reported by its depth).
PROBED = ("sheet", "stock", "mailer", "notifier")
HEALTH_TTL = 60.0

Report = dict[str, dict[str, Any]]


class HealthCache:
    """The last health report, kept `ttl` seconds: each probe spends a Sheets read, an
    SMTP login, an Odoo login, and anyone may ask for `/health`."""

    def __init__(self, probe: Callable[[], Report], ttl: float = HEALTH_TTL) -> None:
        self._probe = probe
        self.ttl = ttl
        self._lock = threading.Lock()
        self._stamp = 0.0
        self._report: Report | None = None

    def get(self) -> Report:
        with self._lock:
            if self._report is None or time.monotonic() - self._stamp > self.ttl:
                self._report = self._probe()
                self._stamp = time.monotonic()
            return self._report


class Hub:
    """The wired hub: one per process (per Lambda container)."""

    def __init__(self, settings: Settings) -> None:
        settings.check_runtime()
        self.settings = settings
        self._health = HealthCache(self._probe)
        self.runner: DispatcherProcess | None = None

    # --- the runtime --------------------------------------------------------------------

    @cached_property
    def state_dir(self) -> Path:
        return Path(self.settings.state_dir)

    @cached_property
    def db(self) -> Database:
        from chalicelib.plumbing.sqlite import Database

        return Database(self.state_dir / "hub.sqlite3")

    @cached_property
    def embedded_queue(self) -> SqliteQueue:
        """The embedded runtime's queue (its dispatcher needs more than the `Queue` port)."""
        from chalicelib.runtime.embedded.queue import SqliteQueue

        return SqliteQueue(self.db)

    @cached_property
    def aws_clients(self) -> AwsClients:
        """The boto3 clients of the AWS runtime and adapters, made on first use."""
        from chalicelib.plumbing.aws import AwsClients

        return AwsClients(self.settings.http_timeout)

    @cached_property
    def sqs_queue(self) -> SqsQueue:
        from chalicelib import names
        from chalicelib.runtime.aws.queue import SqsQueue

        return SqsQueue(names.prefix(self.settings.stage), clients=self.aws_clients)

    @cached_property
    def queue(self) -> Queue:
        """The `Queue` port: SQS in AWS, else the embedded SQLite queue."""
        return self.sqs_queue if self.settings.aws_runtime else self.embedded_queue

    @cached_property
    def dead_letters(self) -> DeadLetters:
        """The `DeadLetters` port: the SQS dead-letter queues and the hub's table in AWS,
        else the embedded database's table."""
        s = self.settings
        if s.aws_runtime:
            from chalicelib.plumbing.aws import HubTable
            from chalicelib.runtime.aws.dead_letters import SqsDeadLetters

            return SqsDeadLetters(self.sqs_queue, HubTable(s.table, self.aws_clients, "the dead letters"))
        from chalicelib.runtime.embedded.dead_letters import SqliteDeadLetters

        return SqliteDeadLetters(self.db, self.embedded_queue)

    @cached_property
    def door(self) -> Door:
        """Idempotent queueing: the same Powertools code path, DynamoDB or SQLite beneath."""
        from chalicelib.runtime.door import Door

        s = self.settings
        if s.aws_runtime:
            from chalicelib.runtime.aws.idempotency import door_persistence

            return Door(self.queue, door_persistence(s.table, s.http_timeout), self.recorder)
        from chalicelib.plumbing.group_commit import GroupCommitter
        from chalicelib.runtime.embedded.idempotency import SqlitePersistenceLayer

        return Door(self.queue, SqlitePersistenceLayer(self.db), self.recorder, commit=GroupCommitter(self.db).run)

    @cached_property
    def history(self) -> EventHistory:
        """The `EventHistory` port: the hub's DynamoDB table in AWS, else the SQLite file."""
        s = self.settings
        if s.aws_runtime:
            from chalicelib.adapters.history_dynamodb import DynamoHistory

            return DynamoHistory(s.table, days=s.history_days, clients=self.aws_clients)
        from chalicelib.adapters.history_sqlite import SqliteHistory

        return SqliteHistory(self.db, days=s.history_days)

    @cached_property
    def recorder(self) -> Recorder:
        """Writes the history from the door and the consumer, never failing them."""
        from chalicelib.runtime.recording import Recorder

        return Recorder(self.history)

    @cached_property
    def intake(self) -> Intake:
        """What the HTTP entry points call."""
        from chalicelib.runtime.intake import Intake

        return Intake(self.settings, lambda: self.door, lambda: self.ports)

    # --- the ports --------------------------------------------------------------------

    @cached_property
    def catalog(self) -> Catalog:
        from chalicelib.domain.catalog import Catalog

        return Catalog.load(self.settings.catalog_path)

    @cached_property
    def sheet(self) -> CustomerSheet:
        s = self.settings
        if s.google_sheet_id:
            from chalicelib.adapters.sheet_google import GoogleSheet

            return GoogleSheet(s, self.buckets)
        from chalicelib.adapters.sheet_sqlite import SqliteSheet

        return SqliteSheet(self.db)

    @cached_property
    def buckets(self) -> TokenBuckets:
        """The quota buckets every consumer shares: on the DynamoDB table in AWS, else in SQLite."""
        s = self.settings
        if s.aws_runtime:
            from chalicelib.plumbing.token_bucket import DynamoBuckets

            return DynamoBuckets(s.table, self.aws_clients)
        from chalicelib.plumbing.token_bucket import SqliteBuckets

        return SqliteBuckets(self.db)

    @cached_property
    def stock(self) -> StockSystem:
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
    def mailer(self) -> Mailer:
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
    def notifier(self) -> Notifier:
        s = self.settings
        if s.slack_bot_token:
            from chalicelib.adapters.slack_web import SlackWeb

            return SlackWeb(s)
        from chalicelib.adapters.slack_outbox import SlackOutbox

        return SlackOutbox(self.state_dir / "outbox" / "slack.jsonl")

    @cached_property
    def locks(self) -> Locks:
        s = self.settings
        if s.aws_runtime:
            from chalicelib.adapters.locks_dynamodb import DynamoLocks

            return DynamoLocks(s.table, clients=self.aws_clients)
        from chalicelib.adapters.locks_local import LocalLocks

        return LocalLocks()

    @cached_property
    def mail_log(self) -> MailLog:
        s = self.settings
        if s.aws_runtime:
            from chalicelib.adapters.mail_log_dynamodb import DynamoMailLog

            return DynamoMailLog(s.table, clients=self.aws_clients)
        from chalicelib.adapters.mail_log_sqlite import SqliteMailLog

        return SqliteMailLog(self.db)

    @cached_property
    def clocks(self) -> CustomerClocks:
        """The newest Stripe facts applied to each customer: DynamoDB in AWS, else SQLite."""
        s = self.settings
        if s.aws_runtime:
            from chalicelib.adapters.clocks_dynamodb import DynamoClocks

            return DynamoClocks(s.table, clients=self.aws_clients)
        from chalicelib.adapters.clocks_sqlite import SqliteClocks

        return SqliteClocks(self.db)

    @cached_property
    def ports(self) -> Ports:
        from chalicelib.ports import Ports

        s = self.settings
        return Ports(
            sheet=self.sheet,
            stock=self.stock,
            mailer=self.mailer,
            notifier=self.notifier,
            queue=self.queue,
            mail_log=self.mail_log,
            dead_letters=self.dead_letters,
            locks=self.locks,
            clocks=self.clocks,
            catalog=self.catalog,
            public_url=s.public_url,
            secret_key=s.require_secret_key(),
            mail_domain=s.mail_domain,
            channel=s.slack_channel,
            operators=s.slack_operators,
            run_all=self.side_by_side,
        )

    @cached_property
    def side_by_side(self) -> SideBySide:
        """Runs a batch's follow-ups side by side (see `runtime.side_by_side`). Embedded, its
        threads do a consumer's work, so they commit to SQLite as the consumer threads do
        (`synchronous=NORMAL`, see `runtime.embedded.runner`): a commit that waits for the
        disk holds the database's one write lock, which the door waits behind."""
        from chalicelib.runtime.side_by_side import SideBySide

        if self.settings.aws_runtime:
            return SideBySide()
        return SideBySide(initializer=lambda: self.db.connection().execute("PRAGMA synchronous=NORMAL"))

    @cached_property
    def redelivery(self) -> RedeliveryPolicy:
        """When a failed message comes back, and when it becomes a dead letter."""
        from chalicelib.redelivery import RedeliveryPolicy

        return RedeliveryPolicy(give_up_after=self.settings.give_up_after)

    # --- what the entry points call --------------------------------------------------

    def consume(self, sqs_event: Any) -> dict[str, list[dict[str, str]]]:
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
        response = consume(sqs_event, self.ports, self.redelivery, reserve_seconds=reserve, recorder=self.recorder)
        if s.aws_runtime and not s.report_batch_failures:
            settle_partial_batch(sqs_event, response, self.queue)
        return response

    def sync_sheet(self) -> int:
        from chalicelib import flows

        return flows.sync_sheet(self.recorder.for_batch(self.ports))

    def health(self) -> Report:
        """Each probed port: the adapter in use and whether it answers (and what it said),
        probed at most once per `HEALTH_TTL` seconds."""
        return self._health.get()

    def _probe(self) -> Report:
        report: Report = {}
        for name in PROBED:
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
        """Deliver queued messages from a child of this process (`chalice local`); not with SQS."""
        from chalicelib.runtime.embedded.runner import widen_listen_backlog

        widen_listen_backlog()
        if self.settings.aws_runtime:
            return False
        from chalicelib.runtime.embedded.worker import DispatcherProcess

        module = sys.modules.get("app")  # chalice imports the project's app.py as `app`
        project_dir = Path(module.__file__).parent if module and module.__file__ else Path.cwd()
        self.runner = DispatcherProcess(self.embedded_queue, str(self.state_dir), project_dir)
        self.runner.start()
        # A server, so ready before the first webhook: the door imports Powertools' idempotency
        # (and boto3 with it), which cost the first eight concurrent webhooks a second each.
        self.door  # noqa: B018 - built for its side effect
        return True

    def dispatcher(self, app: Any) -> Dispatcher:
        """A dispatcher to drive the embedded runtime by hand (tests, the CLI)."""
        from chalicelib.runtime.embedded.dispatcher import Dispatcher

        return Dispatcher(app, self.embedded_queue)


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
    from chalicelib.settings import Settings

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
