"""Where queued events live and how they reach the consumers.

`embedded/`: SQLite queue, dispatcher and scheduler inside `chalice local`.
`aws`: SQS and DynamoDB, when deployed. `consumer` and `door` are shared by both.
"""
