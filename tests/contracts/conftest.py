"""The contract suites: one per port, each run against every implementation of it.

An implementation is built by a factory of this folder's `IMPLEMENTATIONS` tables: the
embedded adapter on SQLite, the AWS one on moto (the shared `moto_aws` fixture), the real
client against its protocol fake, and the unit tests' port fake (`tests/unit/port_fakes`),
so that a fake that drifts from the real thing fails here, not in production.
"""
