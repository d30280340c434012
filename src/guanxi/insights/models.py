"""Models of the insights domain."""
