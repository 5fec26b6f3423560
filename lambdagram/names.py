"""Names the engine's modules agree on, kept apart so none imports another for them (the
blueprint finds what `lambdagram.long_work` and `lambdagram.timers` install, without
importing them for a bot that uses neither)."""

LONG_FLAG = "long"  # the handler flag of `lambdagram.long_work`
ENGINE_OBSERVERS = frozenset({"update", "error"})  # the Dispatcher's own, no bot handler's
JOBS_KEY = "lambdagram_jobs"  # the bot's `lambdagram.timers.Jobs`, in its workflow data
BROADCASTS_KEY = "lambdagram_broadcasts"  # `lambdagram.broadcasts.setup_broadcasts` was called
