"""The rebuild's progress bar on a terminal: bytes of sources read of their total, with an ETA.

The core only reports (bytes read, total bytes); drawing is done here with tqdm, and only when
stderr is a terminal. Warnings met on the way are printed above the bar, each on its own line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from bot.core.printable import printable

Progress = Callable[[int, int], None]
Note = Callable[[str], None]


@contextmanager
def rebuild_progress(stream: TextIO | None = None) -> Iterator[tuple[Progress | None, Note]]:
    """(progress callback or None off a terminal, a function that prints a note) for a rebuild."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield None, lambda message: print(printable(message), file=stream, flush=True)
        return
    from tqdm import tqdm

    bars: list[tqdm] = []  # made at the first report, when the total is known

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(
                    desc="indexing",
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    leave=False,
                    file=stream,
                    dynamic_ncols=True,
                )
            )
        bars[0].update(done - bars[0].n)

    def note(message: str) -> None:
        tqdm.write(printable(message), file=stream)

    try:
        yield progress, note
    finally:
        for bar in bars:
            bar.close()
