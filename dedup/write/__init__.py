"""The write stage: the JSON result document (schema 1) and the terminal summary."""

from dedup.write.jsondoc import (
    SCHEMA_VERSION,
    dump_json,
    result_to_dict,
    streamed_document,
    validate_document,
    write_json,
)
from dedup.write.terminal import render_summary

__all__ = [
    "SCHEMA_VERSION",
    "dump_json",
    "render_summary",
    "result_to_dict",
    "streamed_document",
    "validate_document",
    "write_json",
]
