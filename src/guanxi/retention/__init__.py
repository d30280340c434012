"""Churn early warning on each customer's own rhythm, replenishment and the daily run (issue #6)."""
