"""Adapters: each port's real service and its embedded default, one module each.

`bootstrap` picks one per port from the settings. Real adapters import their SDK
lazily, inside methods or constructors, never at module level.
"""
