"""A run's texts held compressed, each on its own, and decompressed where a stage reads one.

A full run holds every article's text from reading to the end of its output (the clean workers, the sides the
judging and passages passes rebuild, the clusters' members, the wire versions and the passages' texts read them):
~1 byte a character as UTF-8, the largest thing a run held (2.3 GB at 1M articles). News text compresses ~2.5x
with zstd when the compressor has a dictionary trained on the run's own first texts (a dictionary carries what
short texts cannot: their common words and phrases, and the entropy tables), and each text compressed on its own
is read back alone, in a few microseconds, in any order: no block to decompress for one article, no cache, and
putting the texts in another order copies them as they are. Measured on the generated corpora (docs/scale.md,
stop 22): ~830 bytes an article of ~2,090 (2.5x), ~14 µs to compress one, ~5 µs to read one back; zlib level 1
gives 1.8x one by one (2.2x with a preset dictionary, at 4x the time) and 2.2x in 64 KB blocks.

:class:`RawTexts` is the readable reference: the same methods over the texts as they are.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import zstandard

LEVEL = 3  # zstd's default level: ~15 % smaller than level 1 with a dictionary, as fast to read back
DICTIONARY_BYTES = 64 * 1024  # 32 KB: 2 % larger texts; 128 KB: no smaller
TRAIN_BYTES = 1 << 20  # the texts a dictionary is trained on (the run's first; ~0.1 s): smaller runs stay raw
# zstd's trainer can crash the process (not raise) on few or tiny samples (facebook/zstd#3599: ten 1-byte samples;
# a hypothesis test here found more): below these it is not called, and the texts are compressed without a dictionary
MIN_TRAIN_SAMPLES = 100
MIN_TRAIN_BYTES = 256 * 1024


class RawTexts:
    """The reference: the texts as they are, in one buffer with each one's end (what ``CompressedTexts`` gives
    back, tested)."""

    def __init__(self, texts: Iterable[bytes] = ()) -> None:
        self.data, self.offsets = bytearray(), array("q", [0])
        for text in texts:
            self.append(text)

    def append(self, text: bytes) -> None:
        self.data += text
        self.offsets.append(len(self.data))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> bytes:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return bytes(self.data[self.offsets[index] : self.offsets[index + 1]])

    def __iter__(self) -> Iterator[bytes]:
        return (self[index] for index in range(len(self)))

    def reordered(self, order: Sequence[int]) -> RawTexts:
        return RawTexts(self[index] for index in order)

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.offsets.itemsize * len(self.offsets)


class CompressedTexts:
    """A list of byte strings that only grows, each compressed on its own (zstd, :data:`LEVEL`), with a
    dictionary trained on the first :data:`TRAIN_BYTES` of them.

    Until that many have come they are held as they are (a run smaller than that stays so: nothing to gain); then
    a dictionary is trained on them (if they are :data:`MIN_TRAIN_SAMPLES` texts and :data:`MIN_TRAIN_BYTES` or
    more), they are compressed, and so is each later one as it comes. Reading one back
    (``texts[index]``) decompresses it alone. Forked workers read the buffers they inherited without writing
    them. Each thread decompresses with its own decompressor (zstd's are not safe across threads).

    :meth:`spill` moves the compressed texts to a file (a large run's ~0.85 KB an article, held from reading to the
    end of its output): each is then read back from it where it is read (``os.pread``), in this process and in
    the workers forked later, which inherit the file.
    """

    __slots__ = (
        "_compressor",
        "_file",
        "_local",
        "data",
        "dictionary",
        "offsets",
        "pending",
        "pending_bytes",
        "train_bytes",
    )

    def __init__(self, texts: Iterable[bytes] = (), train_bytes: int | None = None) -> None:
        self.data, self.offsets = bytearray(), array("q", [0])  # the compressed texts, each one's end
        self.pending: list[bytes] = []  # the texts as they are, until the dictionary is trained
        self.pending_bytes = 0
        self.train_bytes = TRAIN_BYTES if train_bytes is None else train_bytes
        self.dictionary: zstandard.ZstdCompressionDict | None = None
        self._compressor: zstandard.ZstdCompressor | None = None
        self._local = threading.local()
        self._file: Any = None  # the compressed texts' file once spilled (then ``data`` is empty)
        for text in texts:
            self.append(text)

    @property
    def compressing(self) -> bool:
        """Whether the texts are held compressed (the dictionary is trained): then none is pending."""
        return len(self.offsets) > 1 or self._compressor is not None

    def append(self, text: bytes) -> None:
        if self.compressing:
            self._add(self._compressing().compress(text))
            return
        self.pending.append(text)
        self.pending_bytes += len(text)
        if self.pending_bytes >= self.train_bytes:
            self._start()

    def _start(self) -> None:
        """Train the dictionary on the pending texts (zstd's fast cover; none when they are fewer or smaller than
        the trainer takes safely, or when training fails), then hold them compressed."""
        samples = [text for text in self.pending if text]
        self.dictionary = None
        if len(samples) >= MIN_TRAIN_SAMPLES and sum(map(len, samples)) >= MIN_TRAIN_BYTES:
            with contextlib.suppress(zstandard.ZstdError):
                self.dictionary = zstandard.train_dictionary(DICTIONARY_BYTES, samples)
        self._compressor = self._new_compressor()
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        for text in pending:
            self._add(self._compressor.compress(text))

    def _new_compressor(self) -> zstandard.ZstdCompressor:
        # no dictionary id in each frame (4 bytes a text): there is one dictionary
        return zstandard.ZstdCompressor(level=LEVEL, dict_data=self.dictionary, write_dict_id=False)

    def _compressing(self) -> zstandard.ZstdCompressor:
        if self._compressor is None:
            self._compressor = self._new_compressor()
        return self._compressor

    def _add(self, compressed: bytes) -> None:
        if self._file is None:
            self.data += compressed
        else:  # after the file's last text
            _write(self._file.fileno(), compressed, self.offsets[-1])
        self.offsets.append(self.offsets[-1] + len(compressed))

    def spill(self) -> None:
        """Write the compressed texts to an unnamed temporary file and let their buffer go: each is read back from
        the file where it is read (``os.pread``: a system call more a read, ~1 µs; the file's pages are the kernel's
        cache, which it drops under pressure, not the process's memory), here and in workers forked later (they
        inherit the open file, which goes when the last process holding it lets it go). Texts still held as they
        are (a run of less than ``train_bytes``: nothing to gain) stay so; a spilled object takes more texts in
        after the file's last."""
        if self._file is not None or len(self.offsets) == 1:
            return
        handle = tempfile.TemporaryFile(prefix="dedup-texts-")  # noqa: SIM115 (held: the texts are read from it)
        _write(handle.fileno(), self.data, 0)
        self._file, self.data = handle, bytearray()

    def _stored(self, index: int) -> bytes | bytearray:
        """Text ``index`` as stored (compressed)."""
        begin, end = self.offsets[index], self.offsets[index + 1]
        if self._file is None:
            return self.data[begin:end]
        return _read(self._file.fileno(), end - begin, begin)

    def finish(self) -> None:
        """Let the compressor go (~1 MB: its tables and window); a later :meth:`append` makes another."""
        self._compressor = None

    def __len__(self) -> int:
        return len(self.offsets) - 1 + len(self.pending)

    def __getitem__(self, index: int) -> bytes:
        stored = len(self.offsets) - 1
        if not 0 <= index < stored + len(self.pending):
            raise IndexError(index)
        if index >= stored:
            return self.pending[index - stored]
        return self._decompressor().decompress(self._stored(index))

    def __iter__(self) -> Iterator[bytes]:
        return (self[index] for index in range(len(self)))

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        found = getattr(self._local, "decompressor", None)
        if found is None:
            found = self._local.decompressor = zstandard.ZstdDecompressor(dict_data=self.dictionary)
        return found

    def reordered(self, order: Sequence[int]) -> CompressedTexts:
        """The texts in ``order`` (each an index of these), compressed ones copied as they are (held in memory, also
        from spilled texts: :meth:`spill` them again)."""
        moved = CompressedTexts(train_bytes=self.train_bytes)
        stored = len(self.offsets) - 1
        if stored:
            moved.dictionary = self.dictionary
            for index in order:
                moved._add(self._stored(index))
        else:
            moved.pending = [self.pending[index] for index in order]
            moved.pending_bytes = self.pending_bytes
        return moved

    @property
    def nbytes(self) -> int:
        """Bytes held in memory: the compressed texts (none once spilled), their ends, the pending texts and the
        dictionary."""
        dictionary = len(self.dictionary.as_bytes()) if self.dictionary is not None else 0
        pending = sum(len(text) + 33 for text in self.pending) + 8 * len(self.pending)
        return len(self.data) + self.offsets.itemsize * len(self.offsets) + pending + dictionary

    def __getstate__(self) -> dict[str, Any]:
        return {
            "data": self.data if self._file is None else bytearray(_read(self._file.fileno(), self.offsets[-1], 0)),
            "offsets": self.offsets,
            "pending": self.pending,
            "pending_bytes": self.pending_bytes,
            "train_bytes": self.train_bytes,
            "dictionary": None if self.dictionary is None else self.dictionary.as_bytes(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.data, self.offsets, self.pending = state["data"], state["offsets"], state["pending"]
        self.pending_bytes, self.train_bytes = state["pending_bytes"], state["train_bytes"]
        dictionary = state["dictionary"]
        self.dictionary = None if dictionary is None else zstandard.ZstdCompressionDict(dictionary)
        self._compressor = None
        self._local = threading.local()
        self._file = None


def _read(descriptor: int, size: int, offset: int) -> bytes:
    """``size`` bytes of a file from ``offset`` (``os.pread``, which may return fewer: read on until all are)."""
    found = os.pread(descriptor, size, offset)
    while len(found) < size:
        more = os.pread(descriptor, size - len(found), offset + len(found))
        if not more:
            raise OSError(f"the texts' file ends at {offset + len(found)}, {size - len(found)} bytes short")
        found += more
    return found


def _write(descriptor: int, data: bytes | bytearray, offset: int) -> None:
    """All of ``data`` into a file at ``offset`` (``os.pwrite`` may write fewer bytes: write on until all are)."""
    view, done = memoryview(data), 0
    while done < len(view):
        done += os.pwrite(descriptor, view[done:], offset + done)
