"""p3s pilot factory: one cron-safe cycle that keeps warm pilots in the batch systems."""
