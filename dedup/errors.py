"""The library's one exception family; the CLI maps each to a message and an exit code."""


class DedupError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class InputError(DedupError):
    """An input path or stream cannot be used at all (missing, unreadable)."""

    exit_code = 2


class NoArticlesError(InputError):
    """The input held no readable article."""

    exit_code = 3


class SettingsError(DedupError):
    """A setting has an impossible value."""

    exit_code = 2
