"""Errors that carry a message meant for the user (shown as is, never as a traceback)."""


class UserError(Exception):
    """Bad input or a request that cannot be met; the message says what and why."""


class StoreLocked(UserError):
    """Another process holds the results store for writing."""
