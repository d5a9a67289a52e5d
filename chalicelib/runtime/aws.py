"""The AWS runtime's shared parts: lazy boto3 clients, AWS errors mapped to the hub's,
the door's DynamoDB persistence layer, and the resources (queues, table) it all needs.

The queue itself is in `aws_queue` (`SqsQueue`), the mail log in
`chalicelib.adapters.mail_log_dynamodb` (`DynamoMailLog`). Everything here imports
boto3 lazily and creates clients on first use, never at import or construction: boto3
costs a Lambda cold start 100-200 ms, and a client made before moto's `mock_aws`
starts is not mocked.

One DynamoDB table (`HUB_TABLE`) holds, under its string key `id` and its TTL
attribute `expiration`:
- `door#<hash>`: Powertools idempotency records of the door;
- `deadletter#<letter id>`: what became of a dead letter (parked, replaying, replayed,
  discarded, with the operator's reason);
- `mail#<email>#<campaign>`, `suppress#<email>`, `counter#mail-sent`: the mail log;
- `clock#<email>`: the newest facts applied to each customer (`DynamoClocks`).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from chalicelib.errors import ConfigurationError, HubError, PermanentError, TransientError
from chalicelib.flows import MAIL, PAYMENTS, SIGNUPS, SLACK
from chalicelib.redelivery import MAX_RECEIVE_COUNT, QUEUE_RETENTION

# The logical queues (one consumer each); each has a dead-letter queue `<name>-dlq`.
QUEUES: tuple[str, ...] = (SIGNUPS, PAYMENTS, MAIL, SLACK)
DLQ_SUFFIX = "-dlq"
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


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore `ClientError` ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def aws_error(exc: BaseException, what: str) -> HubError:
    """The hub's error for a boto3 failure, so the consumer and the door can decide
    without knowing botocore: throttling, 5xx and network trouble are transient; a
    missing queue or table, or a denied call, is configuration an operator must fix."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, HubError):  # already mapped further down
        return exc
    if isinstance(exc, NoRegionError):
        return ConfigurationError(f"{what}: no AWS region: set AWS_DEFAULT_REGION (Lambda sets AWS_REGION)")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigurationError(f"{what}: no AWS credentials: give the function a role, or set AWS_PROFILE")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = str(exc.response.get("Error", {}).get("Message", ""))[:300]
        if code in _THROTTLED or status >= 500:
            return TransientError(f"{what}: AWS is throttling or unavailable ({code or status})")
        if code in _MISSING:
            return ConfigurationError(
                f"{what}: {code}: the queue or table does not exist in this account and region;"
                " create them with chalicelib.runtime.aws.create_resources"
                " and check HUB_TABLE"
            )
        if code in _DENIED:
            return ConfigurationError(f"{what}: {code}: the function's IAM role may not do this ({message})")
        return PermanentError(f"{what}: AWS refused: {code}: {message}")
    if isinstance(exc, BotoCoreError):
        # Connection refused or reset, timeouts, a closed connection: worth a retry.
        return TransientError(f"{what}: cannot reach AWS ({type(exc).__name__})")
    return PermanentError(f"{what}: {type(exc).__name__}: {exc}")


class AwsClients:
    """boto3 clients made on first use, once, on a session of their own.

    The default boto3 session is not thread-safe to create clients from; the clients
    themselves are, so one per service is shared by every thread of the process.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def config(self) -> Any:
        """Timeouts, and botocore's standard retries (throttling, 5xx) with backoff."""
        from botocore.config import Config

        return Config(
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            retries={"max_attempts": 3, "mode": "standard"},
        )

    def get(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                import boto3

                client = boto3.session.Session().client(service, config=self.config())
                self._clients[service] = client
            return client


def door_persistence(table_name: str, timeout: float = 10.0) -> Any:
    """The door's idempotency store in AWS: Powertools' own `DynamoDBPersistenceLayer`.

    Key attribute `id`, TTL attribute `expiration` (the table of `create_resources`).
    Powertools creates its boto3 client here, so call this on first use of the door
    (bootstrap's `door` is a cached property), never at import.
    """
    if not table_name:
        raise ConfigurationError("HUB_TABLE is not set: the door needs the DynamoDB table of the hub")
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="id",
        expiry_attr="expiration",
        boto_config=AwsClients(timeout).config(),
    )


def physical_name(prefix: str, queue: str) -> str:
    """The SQS queue name of a logical queue: the deployment's prefix, then the name."""
    return f"{prefix}{queue}"


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
    by the infra step; returns `{"queues": {name: url}, "dead_letter_queues": {...},
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
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except Exception as exc:
        # CreateQueue is idempotent only for identical attributes: update the others.
        if error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url
