"""Per-turn accounting shared by every LLM backend: tokens, cost, tool calls, repairs."""

from __future__ import annotations

from dataclasses import dataclass, field

from labconsole.agents.backends.pricing import PriceTable, TurnUsage
from labconsole.agents.emitter import Emitter

# Tools whose failure is a "problem" and whose later success is a "fix".
FIXING_TOOLS = frozenset({"run_command", "edit_file", "write_file", "commit",
                          "Bash", "Edit", "Write", "MultiEdit", "command_execution", "file_change"})


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
    tool_calls: int = 0
    total: TurnUsage = field(default_factory=TurnUsage)
    cost_usd: float = 0.0
    _reported_calls: int = 0
    _reported_repairs: int = 0
    _warned_price: bool = False

    def tool_result(self, tool: str, ok: bool) -> None:
        self.tool_calls += 1
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
                    self.emit.log(f"no price for model {model!r}: cost counted as $0 "
                                  f"(set --option prices={{\"{model}\": {{\"input\": …, \"output\": …}}}})",
                                  level="warning")
                    self._warned_price = True
        self.total += usage
        self.cost_usd += cost_usd
        calls, repairs = self.tool_calls - self._reported_calls, self.repairs.attempts - self._reported_repairs
        self._reported_calls, self._reported_repairs = self.tool_calls, self.repairs.attempts
        # input_tokens on the wire = everything billed as input except cache reads (cache writes included).
        self.emit.usage(input_tokens=usage.input_tokens + usage.cache_write_tokens,
                        output_tokens=usage.output_tokens, cached_tokens=usage.cached_tokens,
                        cost_usd=round(cost_usd, 8), model=model, tool_calls=calls, repair_attempts=repairs)

    def flush(self) -> None:
        """Report tool calls/repairs made after the last model turn (CLI backends)."""
        if self.tool_calls != self._reported_calls or self.repairs.attempts != self._reported_repairs:
            self.turn(TurnUsage(), cost_usd=0.0)
