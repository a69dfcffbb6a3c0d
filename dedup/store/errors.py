"""Errors of persistent indexes (all ``DedupError``, so the CLI maps them to messages)."""

from __future__ import annotations

from dedup.errors import DedupError


class StoreError(DedupError):
    """An index cannot be opened or used (unreachable server, unreadable file)."""

    exit_code = 2


class CorruptIndexError(StoreError):
    """The file or server does not hold a dedup index, or holds a damaged one."""


class ParametersError(StoreError):
    """The index was made with other sketch parameters, hashing scheme or settings."""


class ConflictError(StoreError):
    """Another writer changed the index during a write (retried by the index; raised if it persists)."""
