"""The vector back end: the automated cycle set-at-a-time over a whole extract.

``run_cycle_frames(extract, book, on)`` evaluates every rule variant's folded conditions
as column masks over all SAs, resolves conflicts like the per-account runner, applies the
actions as vectorised ledger updates, and repeats to the fixed point per process. Its
results equal the per-account runner's (``Runner(book, backend="python")``) exactly;
``tests/test_vector.py`` holds them to it. See docs/performance.md.
"""

from .cycle import VectorCycle, prepare, run_cycle_frames, run_horizon
from .frames import VectorResult, plain, reference_frames, with_ids
from .state import Prepared

__all__ = ["Prepared", "VectorCycle", "VectorResult", "plain", "prepare", "reference_frames",
           "run_cycle_frames", "run_horizon", "with_ids"]
