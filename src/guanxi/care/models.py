"""Models of the care domain."""
