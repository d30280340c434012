"""Saved rule segments, statistical segments and their migration between score snapshots
(issue #4)."""
