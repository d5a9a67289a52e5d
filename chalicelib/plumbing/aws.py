"""AWS plumbing shared by the AWS runtime and the AWS adapters: one boto3 client factory,
one botocore error map, the hub's DynamoDB table, SQS queue addressing, and the
resources (queues, table) it all needs.

Everything here imports boto3 lazily and creates clients on first use, never at import
or construction: boto3 costs a Lambda cold start 100-200 ms, and a client made before
moto's `mock_aws` starts is not mocked.

One DynamoDB table (`HUB_TABLE`) holds, under its string key `id` and its TTL
attribute `expiration`:
- `door#<hash>`: Powertools idempotency records of the door;
- `deadletter#<letter id>`: what became of a dead letter (parked, replaying, replayed,
  discarded, with the operator's reason);
- `lock#<key>`: the customer locks' leases;
- `mail#<email>#<campaign>`, `suppress#<email>`, `counter#mail-sent`: the mail log;
- `clock#<email>`: the newest facts applied to each customer (`DynamoClocks`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from chalicelib.errors import ConfigurationError, ErrorMapper, HubError, PermanentError, TransientError
from chalicelib.names import DLQ_SUFFIX
from chalicelib.queues import QUEUES
from chalicelib.redelivery import MAX_RECEIVE_COUNT, QUEUE_RETENTION

# SQS's own redrive (`MAX_RECEIVE_COUNT`, 1000) is only the backstop of the consumer's
# `RedeliveryPolicy`: it fires when deliveries never finish (timeouts, crashed Lambdas).
# Consumer queues keep messages `QUEUE_RETENTION` (14 days), longer than any give-up.
# AWS asks for a visibility timeout of at least six times the consumer's Lambda timeout
# (Chalice's default is 60 s).
VISIBILITY_TIMEOUT = 360
# Dead letters wait as long as SQS keeps anything: 14 days.
DLQ_RETENTION = 14 * 24 * 3600

_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "LimitExceededException",
    "TransactionInProgressException",
    "TransactionConflictException",
    "AWS.SimpleQueueService.RequestThrottled",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "AWS.SimpleQueueService.ServiceUnavailable",
}
_MISSING = {
    "ResourceNotFoundException",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "KMS.AccessDeniedException",
}
NO_REGION = "no AWS region: set AWS_DEFAULT_REGION (Lambda sets AWS_REGION)"


class ConditionFailed(PermanentError):
    """A DynamoDB condition did not hold: the caller decides what that means."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore `ClientError` ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def map_aws_error(exc: BaseException, what: str, hints: Mapping[str, str] | None = None) -> HubError | None:
    """The hub's error for a boto3 failure, or None for an exception boto3 did not raise.

    Throttling, 429, 5xx and network trouble are transient (with the server's
    `Retry-After`, if any); a failed DynamoDB condition is `ConditionFailed`; a missing
    queue or table, a denied call, or a code in `hints` (code → what an operator must
    fix) is configuration; any other refusal is permanent.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
    )

    if isinstance(exc, HubError):  # already mapped further down
        return exc
    if isinstance(exc, NoRegionError):
        return ConfigurationError(f"{what}: {NO_REGION}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigurationError(f"{what}: no AWS credentials: give the function a role, or set AWS_PROFILE")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode", 0) or 0)
        message = str(exc.response.get("Error", {}).get("Message", ""))[:300]
        if code == "ConditionalCheckFailedException":
            return ConditionFailed(f"{what}: condition not met")
        if code in _THROTTLED or status == 429 or status >= 500:
            from chalicelib.retry import parse_retry_after

            retry_after = parse_retry_after(meta.get("HTTPHeaders", {}).get("retry-after"))
            return TransientError(f"{what}: AWS is throttling or unavailable ({code or status})", retry_after)
        if hints and code in hints:
            return ConfigurationError(f"{what}: {code}: {hints[code]} ({message})")
        if code in _MISSING:
            return ConfigurationError(
                f"{what}: {code}: the queue or table does not exist in this account and region;"
                " create them with chalicelib.plumbing.aws.create_resources"
                " and check HUB_TABLE"
            )
        if code in _DENIED:
            return ConfigurationError(f"{what}: {code}: the function's IAM role may not do this ({message})")
        return PermanentError(f"{what}: AWS refused: {code or status}: {message}")
    if isinstance(exc, ParamValidationError):  # the request's data, not the service
        return PermanentError(f"{what}: AWS refused the request's parameters: {exc}")
    if isinstance(exc, (ConnectionError, HTTPClientError)):  # endpoint down, timeouts, resets
        return TransientError(f"{what}: AWS unreachable ({type(exc).__name__})")
    if isinstance(exc, BotoCoreError):  # e.g. credentials not fetched from the container yet
        return TransientError(f"{what}: AWS client error ({type(exc).__name__}: {exc})")
    return None


def aws_error(exc: BaseException, what: str) -> HubError:
    """`map_aws_error`, where anything unknown is permanent (so nothing escapes unmapped)."""
    return map_aws_error(exc, what) or PermanentError(f"{what}: {type(exc).__name__}: {exc}")


class AwsErrors(ErrorMapper):
    """`with AwsErrors("SQS queue x"):` raises the hub's error for a boto3 failure."""

    def __init__(self, what: str, hints: Mapping[str, str] | None = None) -> None:
        self.what = what
        self.hints = hints

    def _map(self, exc: BaseException) -> Exception | None:
        return map_aws_error(exc, self.what, self.hints)


# botocore's loader of service models (JSON), shared by the sessions of the process.
_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


def _new_session() -> Any:
    """A boto3 session of its own, on the process's one loader: each session would
    otherwise parse the service's model again (about 0.2 s a client, more on a busy host)."""
    global _LOADER
    import boto3
    import botocore.loaders
    import botocore.session

    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = botocore.loaders.create_loader()
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core)


class AwsClients:
    """boto3 clients made on first use, once, on a session of their own.

    The default boto3 session is not thread-safe to create clients from; the clients
    themselves are, so one per service is shared by every thread of the process. The
    sessions share the parsed service models (`_new_session`), which are read-only.
    `attempts` is botocore's own budget of tries (throttling, 5xx): 4 where nothing else
    retries (the runtime's queues and table), 1 under an adapter's own `service_retry`,
    so two retry policies never stack.
    """

    def __init__(self, timeout: float = 10.0, attempts: int = 4) -> None:
        self.timeout = timeout
        self.attempts = attempts
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def config(self) -> Any:
        """Timeouts, and botocore's standard retries with backoff."""
        from botocore.config import Config

        return Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"total_max_attempts": self.attempts, "mode": "standard"},
        )

    def peek(self, service: str) -> Any:
        """The client of `service` if one was made already, else None."""
        return self._clients.get(service)

    def get(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = _new_session().client(service, config=self.config())
                self._clients[service] = client
            return client


class HubTable:
    """The hub's DynamoDB table: its name, its client, its key shape, its errors."""

    def __init__(self, name: str, clients: AwsClients, needed_by: str) -> None:
        if not name:
            raise ConfigurationError(f"HUB_TABLE is not set: {needed_by} needs the hub's DynamoDB table")
        self.name = name
        self._clients = clients

    @property
    def client(self) -> Any:
        return self._clients.get("dynamodb")

    @staticmethod
    def key(value: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": value}}

    def errors(self, what: str) -> AwsErrors:
        return AwsErrors(f"{what} (table {self.name})")

    def get(self, key: str, what: str) -> dict[str, Any] | None:
        """The item under `key`, read strongly consistent; None when absent."""
        with self.errors(what):
            item: dict[str, Any] | None = self.client.get_item(
                TableName=self.name, Key=self.key(key), ConsistentRead=True
            ).get("Item")
        return item

    def describe(self) -> str:
        with self.errors("health"):
            table = self.client.describe_table(TableName=self.name)["Table"]
        return f"DynamoDB table {self.name} ({table.get('TableStatus', '?')})"


def physical_name(prefix: str, queue: str) -> str:
    """The SQS queue name of a logical queue: the deployment's prefix, then the name."""
    return f"{prefix}{queue}"


class SqsAddresses:
    """Where each logical queue and its dead-letter queue live: names to URLs, looked up
    once per process, shared by the queue and the dead letters."""

    def __init__(self, prefix: str, clients: AwsClients, queues: tuple[str, ...] = QUEUES) -> None:
        self.prefix = prefix
        self.queues = tuple(queues)
        self.clients = clients
        self._urls: dict[str, str] = {}

    @property
    def sqs(self) -> Any:
        return self.clients.get("sqs")

    def logical(self, queue: str) -> str:
        """The logical name of a queue given either way: the consumer passes the physical
        name it reads from the record's `eventSourceARN`, flows pass the logical one."""
        if self.prefix and queue.startswith(self.prefix) and queue[len(self.prefix) :] in self.queues:
            return queue[len(self.prefix) :]
        return queue

    def _url(self, name: str) -> str:
        url = self._urls.get(name)
        if url is None:
            with AwsErrors(f"SQS queue {name}"):
                url = str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"])
            self._urls[name] = url
        return url

    def queue_url(self, queue: str) -> str:
        return self._url(physical_name(self.prefix, self.logical(queue)))

    def dlq_url(self, queue: str) -> str:
        return self._url(physical_name(self.prefix, self.logical(queue)) + DLQ_SUFFIX)

    def visible(self, url: str, what: str) -> int:
        """Messages waiting (visible) in the queue at `url`."""
        with AwsErrors(what):
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def create_resources(
    prefix: str,
    table_name: str,
    *,
    queues: tuple[str, ...] = QUEUES,
    visibility_timeout: int = VISIBILITY_TIMEOUT,
    clients: AwsClients | None = None,
) -> dict[str, Any]:
    """Create (or bring up to date) every queue, its dead-letter queue and the table.

    Idempotent: run it again and it only re-applies the attributes. Used by tests and
    by the deploy step; returns `{"queues": {name: url}, "dead_letter_queues": {...},
    "table": table_name}`.
    """
    clients = clients or AwsClients()
    sqs = clients.get("sqs")
    ddb = clients.get("dynamodb")
    out: dict[str, Any] = {"queues": {}, "dead_letter_queues": {}, "table": table_name}
    for queue in queues:
        name = physical_name(prefix, queue)
        dlq_url = _ensure_queue(sqs, name + DLQ_SUFFIX, {"MessageRetentionPeriod": str(DLQ_RETENTION)})
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
        url = _ensure_queue(
            sqs,
            name,
            {
                "RedrivePolicy": redrive,
                "VisibilityTimeout": str(visibility_timeout),
                "MessageRetentionPeriod": str(QUEUE_RETENTION),
            },
        )
        out["queues"][queue] = url
        out["dead_letter_queues"][queue] = dlq_url
    try:
        ddb.create_table(
            TableName=table_name,
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":  # it exists already
            raise
    ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = ddb.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
    return out


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    except Exception as exc:
        # CreateQueue is idempotent only for identical attributes: update the others.
        if error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url
