"""Benchmarks: cold start, memory, warm latency, throughput, Redis commands, cost.

``make bench`` (``python -m bench``) starts its own redis-server and fake Bot API and prints
each figure beside the reference it is compared with. Timings are measured here, never
asserted in tests.
"""
