"""Developer tools: signed requests as the providers send them, `make demo`, `make chaos`.

Not part of the deployed app. The tests use the same builders, so the demo and the
tests speak exactly what Formstack, Stripe and Slack speak.
"""
