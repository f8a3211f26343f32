"""JobError: the job's one error for bad input, in a module of its own so every job module can raise it without
importing config.py (which itself asks smollm2.py whether the built-in model can be built)."""


class JobError(Exception):
    """Bad input: the entry point prints `error: <message>` and exits 2, no traceback."""
