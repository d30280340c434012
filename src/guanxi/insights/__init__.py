"""What the best customers have in common, look-alike prospects, key accounts and the strategy
report (issue #4)."""
