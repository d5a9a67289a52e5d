"""The door's idempotency store in AWS: Powertools' own `DynamoDBPersistenceLayer` on the
hub's table (the embedded runtime's counterpart is `runtime.embedded.idempotency`)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import ConfigurationError
from chalicelib.plumbing.aws import AwsClients


def door_persistence(table_name: str, timeout: float = 10.0) -> Any:
    """Powertools' DynamoDB persistence layer: key attribute `id`, TTL attribute
    `expiration` (the table of `create_resources`).

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
