"""Models of the segments domain."""
