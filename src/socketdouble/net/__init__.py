"""The socket layer: everything that blocks or owns a descriptor."""
