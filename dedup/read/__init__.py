"""The read stage: folders, files and streams of news articles → ``ReadResult``.

Supported: .txt .md (plain text), .html .htm (main text via trafilatura), .json (one article
object or a list of them), .jsonl (one object per line), each optionally gzip-compressed.
"""

from dedup.read.files import DEFAULT_MAX_BYTES, READERS, read_path, read_stream

__all__ = ["DEFAULT_MAX_BYTES", "READERS", "read_path", "read_stream"]
