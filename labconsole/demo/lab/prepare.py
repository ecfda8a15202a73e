"""Data and evaluation for the tiny-charlm lab. PROTECTED: agents must not edit this file.

The metric lives here, not in train.py, so that a change to train.py can only move the score by
training a better model: the vocabulary, the train/val split and the bits-per-byte computation
are fixed. Editing this file (or data/) to move the score is metric gaming.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

CORPUS_PATH = Path(__file__).resolve().parent / "data" / "corpus.txt"
# The last 10% of the corpus; the generator interleaves text kinds, so the split holds all of them.
VAL_FRACTION = 0.1
EVAL_BATCH = 4096


def load_text() -> str:
    return CORPUS_PATH.read_text(encoding="utf-8")


def build_vocab(text: str) -> tuple[list[str], dict[str, int]]:
    chars = sorted(set(text))
    return chars, {c: i for i, c in enumerate(chars)}


TEXT = load_text()
CHARS, STOI = build_vocab(TEXT)
VOCAB_SIZE = len(CHARS)
DATA = torch.tensor([STOI[c] for c in TEXT], dtype=torch.long)
SPLIT = int(len(DATA) * (1 - VAL_FRACTION))
TRAIN_DATA = DATA[:SPLIT]
# Bytes, not characters, so the number stays comparable if the corpus ever gains non-ASCII text.
VAL_BYTES = len(TEXT[SPLIT:].encode("utf-8"))


def context_windows(targets: torch.Tensor, context: int) -> torch.Tensor:
    """(len(targets), context) matrix: row i holds the `context` token ids before DATA[targets[i]].

    Positions before the start of the corpus are filled with token 0, so every position has a
    full window and the model's input shape never depends on where the target sits.
    """
    offsets = torch.arange(-context, 0)
    idx = targets[:, None] + offsets[None, :]
    return torch.where(idx >= 0, DATA[idx.clamp(min=0)], torch.zeros_like(idx))


def get_batch(batch_size: int, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random training batch (inputs, next-char targets), drawn from the train split only,
    using torch's global RNG so train.py's seed decides it."""
    targets = torch.randint(context, SPLIT, (batch_size,))
    return context_windows(targets, context), DATA[targets]


@torch.no_grad()
def evaluate_bpb(model: nn.Module, context: int) -> float:
    """Validation bits per byte: every character of the fixed val split, predicted from the
    `context` characters before it (the first few windows reach back into the train tail, which
    is input only, never a target).

    `model` maps a (batch, context) LongTensor of token ids to (batch, VOCAB_SIZE) logits for the
    next character.
    """
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    was_training = model.training
    model.eval()
    total_nats = 0.0
    for start in range(SPLIT, len(DATA), EVAL_BATCH):
        targets = torch.arange(start, min(start + EVAL_BATCH, len(DATA)))
        logits = model(context_windows(targets, context))
        if logits.shape != (len(targets), VOCAB_SIZE):
            raise ValueError(
                f"model returned logits of shape {tuple(logits.shape)}, expected ({len(targets)}, {VOCAB_SIZE})"
            )
        total_nats += nn.functional.cross_entropy(logits.float(), DATA[targets], reduction="sum").item()
    model.train(was_training)
    return total_nats / math.log(2) / VAL_BYTES
