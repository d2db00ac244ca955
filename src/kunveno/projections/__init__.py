"""Read models folded from the notification log, each with its own tracking position."""
