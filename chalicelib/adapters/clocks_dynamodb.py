"""The `CustomerClocks` port on the hub's DynamoDB table, for the AWS runtime.

Items `clock#<email>` (key attribute `id`) hold the clock as JSON in `clock`; none
expires: the order of a customer's facts must hold for as long as the customer does.
Reads are strongly consistent: the next delivery must see what the last one applied.
"""

from __future__ import annotations

import json
import time
from typing import Any

from chalicelib.domain.customer import normalise_email
from chalicelib.domain.precedence import Clock
from chalicelib.errors import ConfigurationError
from chalicelib.infra.aws import AwsClients, aws_error

PREFIX = "clock#"


class DynamoClocks:
    """Each customer's clock in DynamoDB. No client is created before the first call."""

    def __init__(self, table_name: str, *, timeout: float = 10.0, clients: AwsClients | None = None) -> None:
        if not table_name:
            raise ConfigurationError("HUB_TABLE is not set: the customer clocks need the hub's DynamoDB table")
        self.table_name = table_name
        self._clients = clients or AwsClients(timeout)

    @property
    def _ddb(self) -> Any:
        return self._clients.get("dynamodb")

    def _key(self, email: str) -> dict[str, dict[str, str]]:
        return {"id": {"S": PREFIX + normalise_email(email)}}

    def get(self, email: str) -> Clock:
        try:
            item = self._ddb.get_item(TableName=self.table_name, Key=self._key(email), ConsistentRead=True).get("Item")
        except Exception as exc:
            raise aws_error(exc, f"customer clocks (table {self.table_name})") from exc
        return Clock.from_dict(json.loads(item["clock"]["S"])) if item and "clock" in item else Clock()

    def put(self, email: str, clock: Clock) -> None:
        try:
            self._ddb.put_item(
                TableName=self.table_name,
                Item={
                    **self._key(email),
                    "clock": {"S": json.dumps(clock.to_dict())},
                    "updated_at": {"N": str(time.time())},
                },
            )
        except Exception as exc:
            raise aws_error(exc, f"customer clocks (table {self.table_name})") from exc
