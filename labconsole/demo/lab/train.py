"""Train a tiny character-level MLP language model on CPU and report validation bits per byte.

Agents tune the constants below. Each stays one `NAME = value` line with a plain literal,
because the sweep worker rewrites them with a line regex. The data, split and metric live in
prepare.py, which is protected.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

import prepare  # protected: data, split and the val_bpb metric

# --- hyperparameters (tunable) -------------------------------------------------------------
LEARNING_RATE = 0.001
BATCH_SIZE = 32
CONTEXT = 8
N_EMBD = 16
HIDDEN = 64
WEIGHT_DECAY = 0.1
# --- fixed budget (not part of the search) ---------------------------------------------------
STEPS = 1500


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # rejects NaN


def check_hyperparameters() -> None:
    """Fail fast with a readable message, so a bad edit shows up as a failed run, not a crash."""
    problems: list[str] = []
    if not is_number(LEARNING_RATE) or not 0 < LEARNING_RATE < 1:
        problems.append(f"LEARNING_RATE must be in (0, 1), got {LEARNING_RATE!r}")
    for name, value, high in [
        ("BATCH_SIZE", BATCH_SIZE, 4096),
        ("CONTEXT", CONTEXT, 256),
        ("N_EMBD", N_EMBD, 1024),
        ("HIDDEN", HIDDEN, 4096),
        ("STEPS", STEPS, 100_000),
    ]:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
            problems.append(f"{name} must be an integer in [1, {high}], got {value!r}")
    if not is_number(WEIGHT_DECAY) or not 0 <= WEIGHT_DECAY < 10:
        problems.append(f"WEIGHT_DECAY must be in [0, 10), got {WEIGHT_DECAY!r}")
    if problems:
        sys.exit("train.py: bad hyperparameters:\n  " + "\n  ".join(problems))


class CharMLP(nn.Module):
    """Embed the last CONTEXT characters, concatenate, one hidden layer, predict the next one."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, N_EMBD)
        self.hidden = nn.Linear(CONTEXT * N_EMBD, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN)  # keeps activations in range across the whole LR search space
        self.out = nn.Linear(HIDDEN, vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.embed(idx).flatten(1)
        return self.out(torch.tanh(self.norm(self.hidden(x))))


def main() -> None:
    check_hyperparameters()
    torch.set_num_threads(1)  # one core per run: the console runs several runs side by side
    torch.manual_seed(int(os.environ.get("LABCONSOLE_SEED", "0")))

    started = time.perf_counter()
    model = CharMLP(prepare.VOCAB_SIZE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    # Cosine decay to zero over the fixed step budget: the final weights are the settled ones.
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=STEPS)
    for _ in range(STEPS):
        inputs, targets = prepare.get_batch(BATCH_SIZE, CONTEXT)
        loss = nn.functional.cross_entropy(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()

    val_bpb = prepare.evaluate_bpb(model, CONTEXT)
    seconds = time.perf_counter() - started
    params = sum(p.numel() for p in model.parameters())
    result = {"val_bpb": val_bpb, "steps": STEPS, "params": params, "seconds": round(seconds, 3)}
    # The console reads result.json from the run's working directory.
    Path("result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"steps: {STEPS}  params: {params}  seconds: {seconds:.2f}")
    print(f"val_bpb: {val_bpb:.4f}")


if __name__ == "__main__":
    main()
