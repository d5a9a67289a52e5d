"""The `MailLog` port on the hub's DynamoDB table, for the AWS runtime.

Items (key attribute `id`; none expires: this log is what keeps a customer from being
mailed twice, and an unsubscribe must hold for good):
- `mail#<email>#<campaign>`: `status` (`sending`/`handing`/`sent`/`failed`), `updated_at`, and `counted`
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

from chalicelib.errors import TransientError
from chalicelib.plumbing.aws import AwsClients, ConditionFailed, HubTable, error_code
from chalicelib.ports import Claim, MailStatus

COUNTER_KEY = "counter#mail-sent"


class DynamoMailLog:
    """Who was sent which campaign, and who unsubscribed, in DynamoDB.

    No client is created before the first call.
    """

    def __init__(self, table_name: str, *, timeout: float = 10.0, clients: AwsClients | None = None) -> None:
        self.table = HubTable(table_name, clients or AwsClients(timeout), "the mail log")
        self.table_name = self.table.name
        self._key = HubTable.key

    @property
    def _ddb(self) -> Any:
        return self.table.client

    def _errors(self) -> Any:
        return self.table.errors("mail log")

    def _get(self, key: str) -> dict[str, Any] | None:
        return self.table.get(key, "mail log")

    def status(self, email: str, campaign: str) -> MailStatus | None:
        item = self._get(f"mail#{email}#{campaign}")
        return item["status"]["S"] if item and "status" in item else None

    def claim(self, email: str, campaign: str, lease_seconds: float) -> Claim:
        """A conditional write: taken when never tried, failed, or claimed longer ago than
        the lease; else the item says whether it was `sent` or is `busy` (a `handing`
        claim older than the lease counts as sent: see `MailLog.claim`)."""
        now = time.time()
        stale = now - lease_seconds
        try:
            with self._errors():
                self._ddb.update_item(
                    TableName=self.table_name,
                    Key=self._key(f"mail#{email}#{campaign}"),
                    UpdateExpression="SET #s = :sending, updated_at = :now",
                    ConditionExpression=(
                        "attribute_not_exists(#s)"
                        " OR (#s <> :sent AND #s <> :handing AND (#s <> :sending OR updated_at < :stale))"
                    ),
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":sending": {"S": "sending"},
                        ":handing": {"S": "handing"},
                        ":sent": {"S": "sent"},
                        ":now": {"N": str(now)},
                        ":stale": {"N": str(stale)},
                    },
                )
        except ConditionFailed:
            item = self._get(f"mail#{email}#{campaign}") or {}
            status = item.get("status", {}).get("S")
            if status == "handing" and float(item.get("updated_at", {}).get("N", now)) < stale:
                self.mark(email, campaign, "sent")  # its holder died after the server had it all
                return "sent"
            return "sent" if status == "sent" else "busy"
        return "claimed"

    def mark(self, email: str, campaign: str, status: MailStatus) -> None:
        """Record the status. The first time an (email, campaign) becomes `sent`, the sent
        counter goes up in the same transaction; a repeated mark does not count again."""
        key = self._key(f"mail#{email}#{campaign}")
        now = {"N": str(time.time())}
        with self._errors():
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

    def suppress(self, email: str) -> None:
        """Record an unsubscribe; the first one's time is kept."""
        with self._errors():
            self._ddb.update_item(
                TableName=self.table_name,
                Key=self._key(f"suppress#{email}"),
                UpdateExpression="SET #at = if_not_exists(#at, :now)",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":now": {"N": str(time.time())}},
            )

    def is_suppressed(self, email: str) -> bool:
        return self._get(f"suppress#{email}") is not None

    def sent_count(self) -> int:
        item = self._get(COUNTER_KEY)
        return int(item["n"]["N"]) if item and "n" in item else 0

    def ping(self) -> str:
        """Raise when the table does not answer; else a short description."""
        return self.table.describe()


def _reasons(exc: BaseException) -> str:
    reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
    if reasons:
        return ", ".join(str(r.get("Code", "None")) for r in reasons)
    return str(exc)  # the codes are in the message when the response lacks them


def _condition_failed(exc: BaseException) -> bool:
    """The transaction was cancelled only because the mail item was counted before."""
    codes = _reasons(exc)
    return "ConditionalCheckFailed" in codes and "Conflict" not in codes and "Throttl" not in codes
