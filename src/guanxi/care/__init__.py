"""The care calendar, reminders and tasks, offers and every rep's work queue (issue #6)."""
