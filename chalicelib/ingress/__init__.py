"""One module per provider: verify the signature on the raw bytes, parse, normalise to
domain events. Nothing here queues or touches a sink; a refusal is a `Rejection`."""
