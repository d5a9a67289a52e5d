"""The `CustomerClocks` port on the hub's DynamoDB table, for the AWS runtime.

Items `clock#<email>` (key attribute `id`) hold the clock as JSON in `clock`; none
expires: the order of a customer's facts must hold for as long as the customer does.
Reads are strongly consistent: the next delivery must see what the last one applied.
"""

from __future__ import annotations

import json
import time

from chalicelib.domain.customer import normalise_email
from chalicelib.domain.precedence import Clock
from chalicelib.plumbing.aws import AwsClients, HubTable

PREFIX = "clock#"


class DynamoClocks:
    """Each customer's clock in DynamoDB. No client is created before the first call."""

    def __init__(self, table_name: str, *, timeout: float = 10.0, clients: AwsClients | None = None) -> None:
        self.table = HubTable(table_name, clients or AwsClients(timeout), "the customer clocks")

    def get(self, email: str) -> Clock:
        item = self.table.get(PREFIX + normalise_email(email), "customer clocks")
        return Clock.from_dict(json.loads(item["clock"]["S"])) if item and "clock" in item else Clock()

    def put(self, email: str, clock: Clock) -> None:
        with self.table.errors("customer clocks"):
            self.table.client.put_item(
                TableName=self.table.name,
                Item={
                    **HubTable.key(PREFIX + normalise_email(email)),
                    "clock": {"S": json.dumps(clock.to_dict())},
                    "updated_at": {"N": str(time.time())},
                },
            )
