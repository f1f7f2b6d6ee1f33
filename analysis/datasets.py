"""What the analysis needs to know about a data set: its number of classes, hence chance accuracy.

Runs record `num_classes` in result.json (since the Sec. 6 merge); for records without it, the data sets whose
class count is fixed by the data set itself are known here. An image folder's count is only in its records:
without one, chance is unknown (None), never guessed.
"""
from __future__ import annotations

import pandas as pd

FIXED_CLASSES = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "synthetic": 10}


def num_classes(runs: pd.DataFrame) -> int | None:
    """The one class count of the runs (result.json's, else their data set's), or None if unknown or mixed."""
    counts = set()
    for _, r in runs.iterrows():
        recorded = r.get("num_classes")
        if recorded is not None and not pd.isna(recorded):
            counts.add(int(recorded))
        elif str(r.get("dataset")) in FIXED_CLASSES:
            counts.add(FIXED_CLASSES[str(r.get("dataset"))])
        else:
            return None
    return counts.pop() if len(counts) == 1 else None


def chance_of(runs: pd.DataFrame) -> float | None:
    """Accuracy (%) of guessing uniformly among the runs' classes; None when the class count is not known."""
    n = num_classes(runs)
    return None if n is None else 100.0 / n
