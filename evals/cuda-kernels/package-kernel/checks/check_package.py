"""Is the attempt's repo a kernels repository for rmsnorm_lab with an honest kernel card?"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "_checks"))  # shared check helpers
from verdict import verdict  # noqa: E402

ROOT = Path.cwd()
NAME = "rmsnorm_lab"
problems: list[str] = []


def need(ok: bool, text: str) -> None:
    if not ok:
        problems.append(text)


def check_build() -> None:
    path = ROOT / "build.toml"
    if not path.is_file():
        need(False, "build.toml missing at the repository root")
        return
    try:
        build = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        need(False, f"build.toml does not parse: {exc}")
        return
    need(build.get("general", {}).get("name") == NAME, f"build.toml [general] name must be {NAME!r}")
    torch_src = build.get("torch", {}).get("src", [])
    need(
        any(s.startswith("torch-ext/") and s.endswith(".cpp") for s in torch_src),
        "build.toml [torch] src must list the binding under torch-ext/",
    )
    kernels = build.get("kernel", {})
    need(bool(kernels), "build.toml needs a [kernel.<name>] table")
    for kname, k in kernels.items():
        src = k.get("src", [])
        need(any(s.endswith(".cu") for s in src), f"[kernel.{kname}] src lists no .cu file")
        need("9.0" in k.get("cuda-capabilities", []), f"[kernel.{kname}] cuda-capabilities must include '9.0' (H100)")
    for s in torch_src + [s for k in kernels.values() for s in k.get("src", [])]:
        need((ROOT / s).is_file(), f"build.toml lists {s}, which does not exist")


def check_package() -> None:
    init = ROOT / "torch-ext" / NAME / "__init__.py"
    if not init.is_file():
        need(False, f"torch-ext/{NAME}/__init__.py missing")
        return
    tree = ast.parse(init.read_text())
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    names |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    need("rms_norm" in names, f"torch-ext/{NAME}/__init__.py does not expose rms_norm")
    need(any((ROOT / "tests").glob("test_*.py")), "tests/test_*.py missing")


def numbers(text: str) -> list[float]:
    return [float(m) for m in re.findall(r"\d+(?:\.\d+)?", text)]


def check_card() -> None:
    path = ROOT / "README.md"
    if not path.is_file():
        need(False, "README.md (the kernel card) missing")
        return
    text = path.read_text()
    low = text.lower()
    need("rmsnorm" in low and "qwen3" in low, "card: name the operator (RMSNorm) and the target model (Qwen3)")
    need(any(k in low for k in ("sm_90", "sm90", "9.0", "h100")), "card: name the GPU architecture")
    need("bf16" in low or "bfloat16" in low, "card: name the supported dtype")
    need("get_kernel" in text or "get_local_kernel" in text, "card: show how to load it with the kernels package")
    need(
        "l2" in low and ("cuda event" in low or "cuda graph" in low) and "interleav" in low,
        "card: describe the benchmark method (timing, L2 flush, interleaving)",
    )
    need(any(k in low for k in ("multiple of 8", "contiguous")), "card: state the limits / failure cases")
    bench = json.loads((ROOT / "bench_results.json").read_text())
    big = max(bench["shapes"], key=lambda s: s["rows"])["us"]
    found = numbers(text)
    for baseline in ("eager", "F.rms_norm", "torch.compile"):
        want = big[baseline] / big["rmsnorm_lab"]
        need(baseline.split(".")[-1].lower() in low, f"card: name the {baseline} baseline")
        need(
            any(abs(x - want) <= 0.03 * want for x in found),
            f"card: state the measured speedup vs {baseline} at the largest shape (~{want:.2f}x)",
        )


def main() -> int:
    check_build()
    check_package()
    check_card()
    return verdict(problems, "kernels repository and card look right")


if __name__ == "__main__":
    sys.exit(main())
