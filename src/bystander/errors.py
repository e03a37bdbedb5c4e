"""Errors that reach the user as one clear line and an exit code."""


class BystanderError(Exception):
    """A problem with the user's input or environment, not a bug. Exit code 2 by default."""

    exit_code = 2


class InputError(BystanderError):
    """A file that cannot be used: missing, corrupt, wrong format, too large."""


class RegistrationError(BystanderError):
    """A registration photo that cannot give one clear face."""
