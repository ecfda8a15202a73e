"""Fixed data, "tokenizer" and evaluation for the fixture (laid out like karpathy/autoresearch's prepare.py).
Not to be modified by agents: the lab protects it.

The real prepare.py downloads data into ~/.cache/autoresearch; this fixture ships its data in data/ so the
tests run offline, and keeps the cache directory name for the lab's read-only path."""

import math
import os

CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "autoresearch")
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
TIME_BUDGET = 2  # seconds of training (the real one: 300)
VOCAB_SIZE = 256  # bytes


def load_split(split):
    with open(os.path.join(DATA_DIR, f"{split}.txt"), "rb") as f:
        return list(f.read())


def evaluate_bpb(model):
    """Bits per byte of ``model.prob(prev, nxt)`` on the validation split: the metric agents must not touch."""
    data = load_split("val")
    nll = 0.0
    for prev, nxt in zip(data, data[1:], strict=False):
        nll -= math.log2(model.prob(prev, nxt))
    return nll / (len(data) - 1)
