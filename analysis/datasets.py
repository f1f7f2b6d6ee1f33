"""What the analysis needs to know about a data set: its number of classes, hence chance accuracy."""
from __future__ import annotations

NUM_CLASSES = {"fashion_mnist": 10, "mnist": 10, "cifar10": 10, "cifar100": 100, "imagenet": 1000,
               "synthetic": 10}


def num_classes(dataset) -> int:
    return NUM_CLASSES.get(str(dataset).lower(), 10)


def chance_acc(dataset) -> float:
    """Accuracy (%) of guessing uniformly among the data set's classes."""
    return 100.0 / num_classes(dataset)
