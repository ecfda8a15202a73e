"""A test-only agent process: the real ``labconsole.agents.runner`` with one extra backend.

``skillcheck`` answers an implement task by writing ``answer.txt``: "42" when its role's
skills (read the way real backends read them) carry the marker, "41" otherwise - so a
skill's lift is known in advance. It reports a failed tool call followed by a fix (one repair), usage,
and sleeps ``FAKE_AGENT_DELAY`` seconds (for kill/resume tests).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from labconsole.agents import backends  # noqa: E402
from labconsole.agents import runner  # noqa: E402
from labconsole.agents.roles import load_role, skills_prompt  # noqa: E402

MARKER = "SKILL-MARKER-7f3a"


class SkillCheckBackend:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.skills, _ = skills_prompt(load_role(ctx.role, ctx.lab_root), ctx.lab_root)

    def handle(self, task, emit) -> None:
        wt = Path(task.payload["worktree"])
        with_skill = MARKER in self.skills
        emit.tool_call("run_command", "cat answer.txt", ok=False, error="no such file")
        (wt / "answer.txt").write_text("42\n" if with_skill else "41\n")
        emit.tool_call("write_file", "answer.txt", ok=True)
        emit.tool_call("run_command", "cat answer.txt", ok=True)
        emit.usage(
            input_tokens=1000 if with_skill else 600,
            output_tokens=50,
            cached_tokens=200,
            cost_usd=0.003 if with_skill else 0.002,
            model=self.ctx.model,
        )
        time.sleep(float(os.environ.get("FAKE_AGENT_DELAY", "0")))


if __name__ == "__main__":
    backends.BACKENDS["skillcheck"] = "__main__:SkillCheckBackend"
    sys.exit(runner.run())
