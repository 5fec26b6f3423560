"""The developer tools people run on their machine: ``python -m lambdagram demo|chat|poll``.

Built on the stand-ins of `lambdagram.local` (which the testing kit uses too). Not part of the
deployed function.
"""
