"""The socket layer: everything that blocks or owns a descriptor."""

__all__: list[str] = []  # modules, imported by name; public names are re-exported by socketdouble
