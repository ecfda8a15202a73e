"""The one file agents edit (laid out like karpathy/autoresearch's train.py): a tiny CPU byte model,
an interpolated bigram/unigram with additive smoothing, trained by counting within TIME_BUDGET."""

import time

from prepare import TIME_BUDGET, VOCAB_SIZE, evaluate_bpb, load_split

SMOOTHING = 0.5  # additive smoothing of the bigram counts
BIGRAM_WEIGHT = 0.6  # interpolation weight of the bigram against the unigram


class ByteModel:
    def __init__(self, data):
        self.unigram = [1.0] * VOCAB_SIZE
        self.bigram = [[0.0] * VOCAB_SIZE for _ in range(VOCAB_SIZE)]
        for prev, nxt in zip(data, data[1:], strict=False):
            self.unigram[nxt] += 1
            self.bigram[prev][nxt] += 1
        self.total = sum(self.unigram)
        self.rows = [sum(row) for row in self.bigram]

    def prob(self, prev, nxt):
        uni = self.unigram[nxt] / self.total
        bi = (self.bigram[prev][nxt] + SMOOTHING) / (self.rows[prev] + SMOOTHING * VOCAB_SIZE)
        return BIGRAM_WEIGHT * bi + (1 - BIGRAM_WEIGHT) * uni


t_start = time.time()
train = load_split("train")
model = ByteModel(train)
training_seconds = time.time() - t_start
assert training_seconds < TIME_BUDGET
val_bpb = evaluate_bpb(model)
t_end = time.time()

print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {training_seconds:.1f}")
print(f"total_seconds:    {t_end - t_start:.1f}")
print(f"peak_vram_mb:     {0.0:.1f}")
print(f"mfu_percent:      {0.0:.2f}")
print(f"total_tokens_M:   {len(train) / 1e6:.1f}")
print("num_steps:        1")
print(f"num_params_M:     {VOCAB_SIZE * (VOCAB_SIZE + 1) / 1e6:.1f}")
print("depth:            1")
