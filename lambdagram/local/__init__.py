"""Local stand-ins for the cloud: a throwaway redis-server, a fake Bot API, Lambda events.

Used by the demo, ``python -m lambdagram chat``, the tests and the benchmarks. Not part of the
deployed function.
"""
