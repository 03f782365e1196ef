"""Items cut into lists of at most a given size: IN lists every database accepts, reads that fit in
memory, inserts of bounded size and the tasks of a parallel run."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
SERIES_PER_READ = 500  # series whose rows (histories, forecast vintages) a pass reads and holds at once


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last may be shorter), in order."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
