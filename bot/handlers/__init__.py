"""One router per feature, each a module-level ``router``."""
