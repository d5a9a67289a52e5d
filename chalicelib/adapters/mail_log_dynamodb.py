"""The `MailLog` port on the hub's DynamoDB table, for the AWS runtime.

Items (key attribute `id`; none expires: this log is what keeps a customer from being
mailed twice, and an unsubscribe must hold for good):
- `mail#<email>#<campaign>`: `status` (`sending`/`sent`), `updated_at`, and `counted`
  once it has been counted as sent;
- `suppress#<email>`: `at`, the first unsubscribe;
- `counter#mail-sent`: `n`, emails sent, updated in the same transaction as the status
  so that `sent_count` needs no table scan and a repeated mark never counts twice.

Emails are used as given, like the embedded log: the flows normalise them first.
Reads are strongly consistent: the send-once rule reads what the last delivery wrote.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.errors import ConfigurationError, HubError, TransientError
from chalicelib.runtime.aws import AwsClients, aws_error, error_code

COUNTER_KEY = "counter#mail-sent"


class DynamoMailLog:
    """Who was sent which campaign, and who unsubscribed, in DynamoDB.

    No client is created before the first call.
    """

    def __init__(self, table_name: str, *, timeout: float = 10.0, clients: AwsClients | None = None) -> None:
        if not table_name:
            raise ConfigurationError("HUB_TABLE is not set: the mail log needs the hub's DynamoDB table")
        self.table_name = table_name
        self._clients = clients or AwsClients(timeout)

    @property
    def _ddb(self) -> Any:
        return self._clients.get("dynamodb")

    @staticmethod
    def _key(value: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": value}}

    def _get(self, key: str) -> dict[str, Any] | None:
        try:
            return self._ddb.get_item(TableName=self.table_name, Key=self._key(key), ConsistentRead=True).get("Item")
        except Exception as exc:
            raise aws_error(exc, f"mail log (table {self.table_name})") from exc

    def status(self, email: str, campaign: str) -> str | None:
        item = self._get(f"mail#{email}#{campaign}")
        return item["status"]["S"] if item and "status" in item else None

    def claim(self, email: str, campaign: str, lease_seconds: float) -> str:
        """A conditional write: taken when never tried, failed, or claimed longer ago than
        the lease; else the item says whether it was `sent` or is `busy`."""
        now = time.time()
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key=self._key(f"mail#{email}#{campaign}"),
                UpdateExpression="SET #s = :sending, updated_at = :now",
                ConditionExpression=(
                    "attribute_not_exists(#s) OR (#s <> :sent AND (#s <> :sending OR updated_at < :stale))"
                ),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":sending": {"S": "sending"},
                    ":sent": {"S": "sent"},
                    ":now": {"N": str(now)},
                    ":stale": {"N": str(now - lease_seconds)},
                },
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise aws_error(exc, f"mail log (table {self.table_name})") from exc
            return "sent" if self.status(email, campaign) == "sent" else "busy"
        return "claimed"

    def mark(self, email: str, campaign: str, status: str) -> None:
        """Record the status. The first time an (email, campaign) becomes `sent`, the sent
        counter goes up in the same transaction; a repeated mark does not count again."""
        key = self._key(f"mail#{email}#{campaign}")
        now = {"N": str(time.time())}
        try:
            if status == "sent":
                try:
                    self._ddb.transact_write_items(
                        TransactItems=[
                            {
                                "Update": {
                                    "TableName": self.table_name,
                                    "Key": key,
                                    "UpdateExpression": "SET #s = :s, updated_at = :now, counted = :yes",
                                    "ConditionExpression": "attribute_not_exists(counted)",
                                    "ExpressionAttributeNames": {"#s": "status"},
                                    "ExpressionAttributeValues": {
                                        ":s": {"S": status},
                                        ":now": now,
                                        ":yes": {"BOOL": True},
                                    },
                                }
                            },
                            {
                                "Update": {
                                    "TableName": self.table_name,
                                    "Key": self._key(COUNTER_KEY),
                                    "UpdateExpression": "ADD #n :one",
                                    "ExpressionAttributeNames": {"#n": "n"},
                                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                                }
                            },
                        ]
                    )
                    return
                except Exception as exc:
                    if error_code(exc) != "TransactionCanceledException":
                        raise
                    if not _condition_failed(exc):
                        # A conflict with a concurrent mark or a throttle: worth a retry.
                        raise TransientError(f"mail log: transaction cancelled ({_reasons(exc)})") from exc
                # Counted before: only the status and time are (re)written below.
            self._ddb.update_item(
                TableName=self.table_name,
                Key=key,
                UpdateExpression="SET #s = :s, updated_at = :now",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": status}, ":now": now},
            )
        except HubError:
            raise
        except Exception as exc:
            raise aws_error(exc, f"mail log (table {self.table_name})") from exc

    def suppress(self, email: str) -> None:
        """Record an unsubscribe; the first one's time is kept."""
        try:
            self._ddb.update_item(
                TableName=self.table_name,
                Key=self._key(f"suppress#{email}"),
                UpdateExpression="SET #at = if_not_exists(#at, :now)",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":now": {"N": str(time.time())}},
            )
        except Exception as exc:
            raise aws_error(exc, f"mail log (table {self.table_name})") from exc

    def is_suppressed(self, email: str) -> bool:
        return self._get(f"suppress#{email}") is not None

    def sent_count(self) -> int:
        item = self._get(COUNTER_KEY)
        return int(item["n"]["N"]) if item and "n" in item else 0

    def ping(self) -> str:
        """Raise when the table does not answer; else a short description."""
        try:
            table = self._ddb.describe_table(TableName=self.table_name)["Table"]
        except Exception as exc:
            raise aws_error(exc, f"mail log (table {self.table_name})") from exc
        return f"DynamoDB table {self.table_name} ({table.get('TableStatus', '?')})"


def _reasons(exc: BaseException) -> str:
    reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
    if reasons:
        return ", ".join(str(r.get("Code", "None")) for r in reasons)
    return str(exc)  # the codes are in the message when the response lacks them


def _condition_failed(exc: BaseException) -> bool:
    """The transaction was cancelled only because the mail item was counted before."""
    codes = _reasons(exc)
    return "ConditionalCheckFailed" in codes and "Conflict" not in codes and "Throttl" not in codes
