"""The `Queue` port on SQS: one standard queue per consumer, named by the deployment's
prefix and the logical names of `chalicelib.queues` (`signups`, `payments`, `mail`,
`slack`), each with a dead-letter queue `<name>-dlq` (see
`chalicelib.plumbing.aws.create_resources`; `SqsDeadLetters` reads those).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from chalicelib.logs import logger
from chalicelib.names import DLQ_SUFFIX
from chalicelib.plumbing.aws import AwsClients, AwsErrors, SqsAddresses, aws_error, error_code, physical_name
from chalicelib.queues import QUEUES

# A message may stay hidden 12 hours at most, counted from its receive, and a Lambda
# runs 15 minutes at most after it: a delay up to the difference is always accepted.
MAX_VISIBILITY = 12 * 3600 - 15 * 60

# What SQS answers a delete whose receipt it no longer honours.
_STALE_RECEIPT = ("ReceiptHandleIsInvalid", "InvalidParameterValue")

# Characters SQS accepts in a message attribute value (XML 1.0's); others are replaced.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def attribute(value: str) -> dict[str, str]:
    """A string message attribute, made acceptable to SQS."""
    return {"DataType": "String", "StringValue": _NOT_XML.sub("?", value)[:4000]}


class SqsQueue:
    """The `Queue` port on SQS queues.

    Standard queues deliver at least once and do not deduplicate: `dedupe_id` is kept
    as a message attribute (for logs and operators), and the downstream steps are
    idempotent on their own keys, which is what makes a duplicate harmless here.
    No client is created before the first call.
    """

    def __init__(
        self,
        prefix: str,
        *,
        queues: tuple[str, ...] = QUEUES,
        timeout: float = 10.0,
        clients: AwsClients | None = None,
        addresses: SqsAddresses | None = None,
    ) -> None:
        self.addresses = addresses or SqsAddresses(prefix, clients or AwsClients(timeout), queues)

    @property
    def _sqs(self) -> Any:
        return self.addresses.sqs

    def send(self, queue: str, body: dict[str, Any], dedupe_id: str) -> None:
        """Queue `body`; returns once SQS has stored it. Raises `TransientError` (so the
        door answers 503 and the sender retries) or `ConfigurationError`."""
        url = self.addresses.queue_url(queue)
        attributes = {"dedupe_id": attribute(dedupe_id)} if dedupe_id else {}
        with AwsErrors(f"queue {self.addresses.logical(queue)}"):
            self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), MessageAttributes=attributes)

    def delete(self, queue: str, receipt: str) -> None:
        """Delete a processed delivery (what Lambda does for a batch that succeeds).

        A receipt SQS no longer honours (redelivered since, or expired: SQS answers
        `ReceiptHandleIsInvalid` or `InvalidParameterValue`) is logged, not raised: the
        work is done, and the delivery that holds the message now deletes it (`Queue.delete`).
        """
        with AwsErrors(f"queue {self.addresses.logical(queue)}"):
            try:
                self._sqs.delete_message(QueueUrl=self.addresses.queue_url(queue), ReceiptHandle=receipt)
            except Exception as exc:
                if error_code(exc) not in _STALE_RECEIPT:
                    raise
                logger.warning("a stale receipt deleted nothing", extra={"queue": self.addresses.logical(queue)})

    def retry_later(self, queue: str, receipt: str, delay: float) -> None:
        """Hide a failed delivery for `delay` seconds (capped below SQS's 12 hours).

        Best effort: if SQS refuses (a stale receipt, the 12-hour total exceeded, a
        throttle), the message still comes back after the queue's visibility timeout,
        so the failure is logged rather than failing the whole batch.
        """
        seconds = int(min(max(delay, 0.0), MAX_VISIBILITY))
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.addresses.queue_url(queue), ReceiptHandle=receipt, VisibilityTimeout=seconds
            )
        except Exception as exc:
            logger.warning(
                "could not delay a retry",
                extra={
                    "queue": self.addresses.logical(queue),
                    "reason": str(aws_error(exc, "ChangeMessageVisibility")),
                },
            )

    def oldest_ages(self) -> dict[str, float]:
        """Seconds the oldest message of each queue has waited, from CloudWatch's
        `ApproximateAgeOfOldestMessage` (SQS itself does not tell; the metric lags by a
        minute or so). Best effort: empty when CloudWatch does not answer (the role
        needs `cloudwatch:GetMetricData`)."""
        now = time.time()
        a = self.addresses
        keys = {f"q{i}": q for i, q in enumerate(a.queues)}
        queries = [
            {
                "Id": key,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SQS",
                        "MetricName": "ApproximateAgeOfOldestMessage",
                        "Dimensions": [{"Name": "QueueName", "Value": physical_name(a.prefix, queue)}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
            for key, queue in keys.items()
        ]
        try:
            answer = a.clients.get("cloudwatch").get_metric_data(
                MetricDataQueries=queries, StartTime=now - 600, EndTime=now, ScanBy="TimestampDescending"
            )
        except Exception as exc:
            logger.warning("no queue ages from CloudWatch", extra={"reason": error_code(exc) or type(exc).__name__})
            return {}
        return {keys[r["Id"]]: float(r["Values"][0]) for r in answer.get("MetricDataResults", []) if r.get("Values")}

    def depth(self) -> dict[str, int]:
        """Messages waiting (visible) in each queue and each dead-letter queue."""
        out: dict[str, int] = {}
        a = self.addresses
        for queue in a.queues:
            out[queue] = a.visible(a.queue_url(queue), f"SQS queue {queue}")
            out[queue + DLQ_SUFFIX] = a.visible(a.dlq_url(queue), f"SQS queue {queue}{DLQ_SUFFIX}")
        return out
