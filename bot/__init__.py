"""lambdagram: run an aiogram 3 bot on AWS Lambda with its FSM state in Redis."""
