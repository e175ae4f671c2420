"""Small, runnable programs and tests that use socketdouble with real clients."""
