"""socketdouble in CI for programs in any language: a double from a file, a shell script, a workflow."""
