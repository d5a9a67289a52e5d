"""The embedded runtime: SQS and EventBridge semantics on one SQLite file, in-process."""
