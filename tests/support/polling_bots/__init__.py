"""Polling bots' folders as their authors write them, handed over by `from_polling`."""
