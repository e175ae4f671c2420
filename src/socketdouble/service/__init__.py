"""The standalone service: the command line, the doubles file, the admin API.

For CI in any language, with no Python test around it: ``socketdouble serve FILE``
starts the doubles a file declares; ``record``, ``replay``, ``show`` and ``export``
work on cassettes. See ``socketdouble --help``.
"""

__all__: list[str] = []
