"""p3s pilot: the payload-agnostic wrapper that runs on batch nodes (requests + stdlib only)."""

__version__ = "0.1.0"
