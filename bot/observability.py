"""Logging for the whole package: one Powertools Logger, JSON lines on stdout.

Other modules log through ``logger``; the Lambda edge adds the invocation context and
each update's id as the correlation id.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "lambdagram")

logger = Logger(service=SERVICE)
