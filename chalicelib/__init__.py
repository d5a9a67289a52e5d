"""chocohub: the integration hub of a monthly chocolate-box shop.

`app.py` at the project's top holds the Chalice entry points; everything they call
lives here. Start reading at `bootstrap` (what is wired to what) and `flows` (what
each event causes).
"""
