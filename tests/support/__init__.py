"""Test helpers: a client that talks to ``handler.handler`` with real Lambda events."""
