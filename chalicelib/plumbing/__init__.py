"""Plumbing shared by the adapters and the runtime: SQLite (`sqlite`) and AWS (`aws`).

Below both in the tree: it imports only `chalicelib.errors` and `chalicelib.queues`,
never an adapter, a flow or the runtime.
"""
