"""Exact lines that native (C) code prints on stderr, dropped; everything else it prints is kept.

warp (imported by torchmd-net) prints ``Warp CUDA warning: Could not find or load the NVIDIA
CUDA driver ...`` from C with ``fprintf(stderr, ...)`` when it initialises on a machine without
a CUDA driver; no warp setting or environment variable turns it off, and Python's ``warnings``
and ``logging`` never see it. :func:`stderr_without` sends file descriptor 2 to a temporary file
for the duration of a block and writes back every line but the ones named.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator, Sequence

__all__ = ["stderr_without", "WARP_NO_CUDA_DRIVER"]

#: what warp prints at initialisation on a machine without an NVIDIA driver (a CPU machine: not a problem)
WARP_NO_CUDA_DRIVER = ("Warp CUDA warning: Could not find or load the NVIDIA CUDA driver. "
                       "GPU execution will not be available.")


@contextmanager
def stderr_without(lines: Sequence[str]) -> Iterator[None]:
    """Inside the block, what is written to file descriptor 2 is held back; afterwards it is written
    to stderr without the lines equal to one of ``lines`` (errors and other warnings are kept, in order)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to redirect: print as is
        yield
        return
    drop = {line.strip() for line in lines}
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(keepends=True)
                    if line.decode("utf-8", "replace").strip() not in drop]
            if kept:
                os.write(2, b"".join(kept))
