"""The CUDA source must survive packaging byte-for-byte (moved is fine), and the op keeps its schema."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "_checks"))  # shared check helpers
from verdict import fixture_file, verdict  # noqa: E402


def main() -> int:
    original = fixture_file("rmsnorm.cu")
    files = [p for p in Path.cwd().rglob("*") if ".git" not in p.parts and p.is_file()]
    problems = []
    if not any(p.suffix == ".cu" and p.read_bytes() == original for p in files):
        problems.append("the kernel source rmsnorm.cu was changed or removed")
    bindings = [p for p in files if p.suffix == ".cpp" and "torch-ext" in p.parts]
    if not any("rms_norm(Tensor x, Tensor weight, float eps) -> Tensor" in p.read_text() for p in bindings):
        problems.append("no binding under torch-ext/ defines rms_norm(Tensor x, Tensor weight, float eps) -> Tensor")
    return verdict(problems, "kernel source intact, binding in place")


if __name__ == "__main__":
    sys.exit(main())
