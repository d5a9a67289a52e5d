"""The chaos test: many real webhooks, duplicated and shuffled, against the real
`chalice local` whose real adapters talk to faulty protocol fakes, with the hub killed
twice on the way. `python -m tests.chaos` (or `make chaos`) prints its table."""
