"""Models of the retention domain."""
