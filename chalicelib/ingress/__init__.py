"""One module per provider: verify the signature on the raw bytes, parse, normalise to
domain events. Nothing here queues or calls a service; a refusal is a `Rejection`."""
