"""Per-turn accounting shared by every LLM backend: tokens, cost, tool calls, repairs."""

from __future__ import annotations

from dataclasses import dataclass, field

from labconsole.agents.backends.pricing import PriceTable, TurnUsage
from labconsole.agents.emitter import Emitter
from labconsole.agents.protocol import UsageReport
from labconsole.core.usage import Usage

# Tools whose failure is a "problem" and whose later success is a "fix".
FIXING_TOOLS = frozenset(
    {
        "run_command",
        "edit_file",
        "write_file",
        "commit",
        "Bash",
        "Edit",
        "Write",
        "MultiEdit",
        "command_execution",
        "file_change",
    }
)


@dataclass
class RepairTracker:
    """A failed command/test followed by a successful fix counts as one repair attempt."""

    attempts: int = 0
    _pending_failure: bool = False

    def record(self, tool: str, ok: bool) -> None:
        if tool not in FIXING_TOOLS:
            return
        if not ok:
            self._pending_failure = True
        elif self._pending_failure:
            self.attempts += 1
            self._pending_failure = False


@dataclass
class UsageMeter:
    model: str
    prices: PriceTable
    emit: Emitter
    repairs: RepairTracker = field(default_factory=RepairTracker)
    # Everything so far: tokens, cost and tool calls (repairs are counted by ``repairs``).
    total: TurnUsage = field(default_factory=TurnUsage)
    # The tool calls and repairs already sent: each ``usage`` line carries only what is new.
    _reported: Usage = field(default_factory=Usage)
    _warned_price: bool = False

    def tool_result(self, tool: str, ok: bool) -> None:
        self.total.tool_calls += 1
        self.repairs.record(tool, ok)

    def turn(self, usage: TurnUsage, model: str | None = None, cost_usd: float | None = None) -> None:
        """Emit one ``usage`` event for a model turn (counts since the last one).

        ``cost_usd`` is used as given when the backend knows it (the claude CLI reports it);
        otherwise it comes from the price table.
        """
        model = model or self.model
        if cost_usd is None:
            cost_usd = self.prices.cost(model, usage)
            if cost_usd is None:
                cost_usd = 0.0
                if not self._warned_price:
                    self.emit.log(
                        f"no price for model {model!r}: cost counted as $0 "
                        f'(set --option prices={{"{model}": {{"input": …, "output": …}}}})',
                        level="warning",
                    )
                    self._warned_price = True
        self.total += TurnUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cost_usd=cost_usd,
        )
        self.total.repair_attempts = self.repairs.attempts
        # input_tokens on the wire = everything billed as input except cache reads (cache writes included).
        sent = Usage(
            input_tokens=usage.input_tokens + usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=round(cost_usd, 8),
            tool_calls=self.total.tool_calls - self._reported.tool_calls,
            repair_attempts=self.total.repair_attempts - self._reported.repair_attempts,
        )
        self._reported.tool_calls, self._reported.repair_attempts = self.total.tool_calls, self.total.repair_attempts
        self.emit.write(UsageReport(sent, model=model))

    def flush(self) -> None:
        """Report tool calls/repairs made after the last model turn (CLI backends)."""
        if (
            self.total.tool_calls != self._reported.tool_calls
            or self.repairs.attempts != self._reported.repair_attempts
        ):
            self.turn(TurnUsage(), cost_usd=0.0)
