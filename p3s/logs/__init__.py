"""Full job logs: the whole (capped) log of every job attempt, gzip-compressed on disk."""
