"""The sans-IO core: framing, matchers, rules, scripts, conversations, recordings.

Nothing in this package opens a socket or starts a thread; it is fed bytes and
returns what to send.
"""

__all__: list[str] = []  # modules, imported by name; public names are re-exported by socketdouble
