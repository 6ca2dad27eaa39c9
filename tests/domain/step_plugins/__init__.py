"""Two plugins declaring the same step type (a configuration conflict)."""
