"""The AWS runtime, selected by `HUB_TABLE`: the `Queue` port on SQS (`queue`), the
`DeadLetters` port on the dead-letter queues and the hub's table (`dead_letters`), and
the door's DynamoDB idempotency store (`idempotency`). Their plumbing (clients, error
map, table, resource creation) is `chalicelib.plumbing.aws`."""
