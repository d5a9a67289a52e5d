"""The `Locks` port across Lambdas: one writer of a customer's sheet row at a time.

A sheet has no conditional write: two consumers that read a row, change it and write
it back at the same moment lose one change, and two that both find no row append two.
In AWS several Lambdas run at once, so the row's read-change-write is held under a
DynamoDB lease; in the embedded runtime, one process, a lock per key suffices.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from chalicelib.errors import TransientError
from chalicelib.plumbing.aws import AwsClients, ConditionFailed, HubTable

# Longer than one sheet read-change-write with its retries; a dead holder's lease ends then.
LEASE_SECONDS = 60


class DynamoLocks:
    """The `Locks` port across Lambdas: a conditional put of `lock#<key>` with a lease.

    A busy key raises `TransientError`: the message goes back to its queue and is
    retried shortly, rather than holding a Lambda while it waits.
    """

    def __init__(self, table_name: str, timeout: float = 10.0, clients: AwsClients | None = None) -> None:
        self.table = HubTable(table_name, clients or AwsClients(timeout), "the customer locks")

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        ddb = self.table.client
        token = uuid.uuid4().hex
        now = time.time()
        item_key = HubTable.key(f"lock#{key}")
        try:
            with self.table.errors("customer locks"):
                ddb.put_item(
                    TableName=self.table.name,
                    Item={
                        **item_key,
                        "token": {"S": token},
                        "lease_until": {"N": str(now + LEASE_SECONDS)},
                        # The table's TTL attribute: DynamoDB sweeps forgotten locks away.
                        "expiration": {"N": str(int(now + LEASE_SECONDS + 3600))},
                    },
                    ConditionExpression="attribute_not_exists(id) OR lease_until < :now",
                    ExpressionAttributeValues={":now": {"N": str(now)}},
                )
        except ConditionFailed as exc:
            raise TransientError(f"{key} is being updated by another delivery", retry_after=2) from exc
        try:
            yield
        finally:
            # Lost the lease meanwhile, or a blip: either way the lease ends by itself.
            with suppress(Exception):
                ddb.delete_item(
                    TableName=self.table.name,
                    Key=item_key,
                    ConditionExpression="#t = :token",
                    ExpressionAttributeNames={"#t": "token"},
                    ExpressionAttributeValues={":token": {"S": token}},
                )
