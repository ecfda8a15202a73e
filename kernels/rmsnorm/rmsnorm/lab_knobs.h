// Launch-shape knobs of the kernel lab (lab.toml [search.space]): the vectorized path's shape for
// the lab's flagship workload, rows of 512 16-byte packets (hidden 4096 in bf16/fp16) of the plain
// rms_norm op at more than kKnobMinRows rows (4096-token prefills and up). Other shapes keep
// choose_config's tuned table and rule.
//
// The values here are the tuned ones (the same shape as tuned_shapes.h's 4096-row entries);
// `labconsole demo --kernel` starts its lab copy from a detuned point (labconsole/demo/kernel_lab.py).
//
// Each knob's value sits on its own `NAME = value` line: that is the line the sweep backend (and
// an LLM worker) edits, and every value the lab's search space allows builds and is correct
// (static_asserts in rmsnorm_kernels.cu refuse anything else at compile time).
#pragma once

namespace rmsnorm::knobs {

// 16-byte packets each thread holds in registers: 1, 2, 4, 8 or 16. A block per row, so the
// block has 512 / PACKETS_PER_THREAD threads (512 ... 32).
inline constexpr int
PACKETS_PER_THREAD = 2
;

// Occupancy target: ask ptxas for enough registers-per-thread headroom that this many threads
// stay resident per SM (__launch_bounds__ min blocks = MIN_RESIDENT_THREADS / threads, at most
// 32). 0: no target (the compiler's choice). 1536 with 2 packets is the tuned table's
// register-capped variant; 2048 caps a thread at 32 registers, which can spill.
inline constexpr int
MIN_RESIDENT_THREADS = 0
;

}  // namespace rmsnorm::knobs
