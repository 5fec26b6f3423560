"""The testing kit: the bot through the Lambda path, a real redis-server, a fake Bot API."""

pytest_plugins = ["lambdagram.testing"]
