"""Agent detail: one agent's live log (virtual view), its worktree and branch commits, and its controls."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from labconsole.errors import LabError
from labconsole.lab.gitops import run_git
from labconsole.lab.state import AgentState, LabState
from labconsole.tui import format as F
from labconsole.tui import keymap
from labconsole.tui.decisions import decision
from labconsole.tui.colors import AGENT_STATE_COLOR, theme_colors
from labconsole.tui.screens.base import LabScreen, box
from labconsole.tui.screens.dialogs import PromptDialog
from labconsole.tui.source import ReplaySource
from labconsole.tui.widgets.log_view import LogView
from labconsole.tui.widgets.panels import AgentsTable

LOG_POLL_S = 0.5


def git_commits(root: Path, base: str | None, branch: str, limit: int = 15) -> list[str]:
    """``sha subject`` lines of the branch since its base (runs git; call from a worker)."""
    rev = f"{base}..{branch}" if base else branch
    try:  # through the git guard: the lab's config may have been written by an agent
        status, out, err = run_git(root, "log", "--format=%h %s", f"-n{limit}", rev, timeout=10)
    except (OSError, LabError) as exc:
        return [f"(git failed: {exc})"]
    if status != 0:
        return [f"(git: {err.strip().splitlines()[-1] if err.strip() else 'no such branch'})"]
    return out.decode("utf-8", "replace").splitlines()


class AgentScreen(LabScreen):
    TITLE_TEXT = "Agent"
    BINDINGS = keymap.bindings("agent")

    class ReplayLogLoaded(Message):
        """Replay: the agent's recorded events up to the cursor (read by a worker)."""

        def __init__(self, agent_id: str, cursor: int, lines: list[str], more: bool) -> None:
            super().__init__()
            self.agent_id, self.cursor, self.lines, self.more = agent_id, cursor, lines, more

    class CommitsLoaded(Message):
        def __init__(self, branch: str, lines: list[str]) -> None:
            super().__init__()
            self.branch, self.lines = branch, lines

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.agent_id: str | None = None
        self._log_for: str | None = None
        self._commits: tuple[str, list[str]] | None = None
        self._replay_log: tuple[str, int] | None = None  # replay: (agent, cursor) the log shows or is loading
        self._replay_more = False  # replay: older events than those shown exist

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield AgentsTable(id="agent-table")
        yield Static(id="agent-info")
        with Horizontal(id="agent-body"):
            log = LogView(id="agent-log", classes="box")
            log.border_title = "Log"
            yield log
            yield box("Worktree", Static(id="agent-worktree"), id="agent-side", kind=VerticalScroll)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        if self.console.source.live:
            self.set_interval(LOG_POLL_S, self._poll_log)

    def _poll_log(self) -> None:
        if self.is_current:
            self.query_one(LogView).poll()

    def select(self, agent_id: str | None) -> None:
        self.agent_id = agent_id
        self.show_state(self.console.lab_state)

    def _agent(self, state: LabState) -> AgentState | None:
        if self.agent_id in state.agents:
            return state.agents[self.agent_id]  # type: ignore[index]
        if state.agents:
            self.agent_id = sorted(state.agents)[0]
            return state.agents[self.agent_id]
        return None

    def show_state(self, state: LabState) -> None:
        super().show_state(state)
        c = theme_colors(self.app)
        a = self._agent(state)
        table = self.query_one(AgentsTable)
        table.show(state)
        if a is not None and table.selected_key != a.agent_id and a.agent_id in table._rows:
            table.move_cursor(row=table._order.index(a.agent_id), animate=False)
        info = self.query_one("#agent-info", Static)
        if a is None:
            info.update(Text(" No agents in this session yet.", style=c["muted"]))
            if self._replay_log is not None:  # replay moved before the first agent: its log goes too
                self._replay_log = None
                self.query_one(LogView).show_lines([])
            return
        replay = self.console.replay
        if replay is not None:
            # Replay: the log is the agent's recorded events up to the cursor, so it moves with it (the
            # stdout file has no event numbers to cut it at).
            if self.is_current and self._replay_log != (a.agent_id, self.console.cursor):
                self._replay_log = (a.agent_id, self.console.cursor)
                self._load_replay_log(replay, a.agent_id, self.console.cursor)
        elif self._log_for != a.agent_id:
            self._log_for = a.agent_id
            path = self.console.source.agent_log_path(a.agent_id)
            self.query_one(LogView).open(path if path.exists() else None)
            self._show_log_title()
        u = a.usage
        info.update(
            Text.assemble(
                (f" {a.agent_id} ", "bold reverse"),
                f"  {a.role} · {a.backend}{'/' + a.model if a.model else ''}  ",
                (a.state, f"bold {c[AGENT_STATE_COLOR.get(a.state, 'foreground')]}"),
                f"  {a.detail}" if a.detail else "",
                f"\n hypothesis {a.hypothesis or '-'} · pid {a.pid or '-'} · restarts {a.restarts} · "
                f"tokens {F.tokens(u.tokens)} (in {F.tokens(u.input_tokens)} / out {F.tokens(u.output_tokens)}) · "
                f"{F.usd(u.cost_usd)} · tool calls {u.tool_calls}",
                (f"\n last error: {a.last_error}" if a.last_error else "", c["error"]),
                no_wrap=True,
                overflow="ellipsis",
            )
        )
        self._show_worktree(a, state)

    def _show_worktree(self, a: AgentState, state: LabState) -> None:
        c = theme_colors(self.app)
        mine = sorted((h for h in state.hypotheses.values() if h.agent_id == a.agent_id), key=lambda h: h.hyp_id)
        current = state.hypotheses.get(a.hypothesis or "") or (mine[-1] if mine else None)
        text = Text()
        if current is None:
            text.append("no worktree: this agent has not claimed a hypothesis", style=c["muted"])
        else:
            text.append(f"{current.hyp_id} ", style="bold")
            text.append(f"{current.status}\n")
            text.append(
                f"branch   {current.branch or '-'}\nworktree {current.worktree or '(removed)'}\n"
                f"base     {F.short_sha(current.base_sha)}\nhead     {F.short_sha(current.sha)}\n"
            )
            root = self.console.source.lab_root
            if root is not None and current.branch:
                if self._commits and self._commits[0] == current.branch:
                    text.append("\ncommits\n", style="bold")
                    for line in self._commits[1] or ["(none yet)"]:
                        text.append(f"  {line}\n")
                else:
                    self._load_commits(root, current.base_sha, current.branch)
        if mine:
            text.append("\nhypotheses\n", style="bold")
            for h in mine:
                text.append(f"  {h.hyp_id} {h.status} {F.short_sha(h.sha)}\n")
        self.query_one("#agent-worktree", Static).update(text)

    @work(thread=True, exclusive=True, group="agent-replay-log")
    def _load_replay_log(self, replay: ReplaySource, agent_id: str, cursor: int) -> None:
        lines, more = replay.agent_lines(agent_id, cursor)
        self.post_message(self.ReplayLogLoaded(agent_id, cursor, lines, more))

    def on_agent_screen_replay_log_loaded(self, message: AgentScreen.ReplayLogLoaded) -> None:
        if self._replay_log != (message.agent_id, message.cursor):
            return  # the cursor or the agent moved on while it loaded
        self._log_for = message.agent_id
        self._replay_more = message.more
        self.query_one(LogView).show_lines(message.lines)
        self._show_log_title()

    @work(thread=True, exclusive=True, group="agent-git")
    def _load_commits(self, root: Path, base: str | None, branch: str) -> None:
        self.post_message(self.CommitsLoaded(branch, git_commits(root, base, branch)))

    def on_agent_screen_commits_loaded(self, message: AgentScreen.CommitsLoaded) -> None:
        self._commits = (message.branch, message.lines)
        state = self.console.lab_state
        a = self._agent(state)
        if a is not None:
            self._show_worktree(a, state)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter on a row shows that agent's log and worktree below (highlights alone do not: the
        # table's own syncs move the highlight too).
        event.stop()
        key = event.row_key.value if event.row_key is not None else None
        if key and key != self.agent_id:
            self._commits = None
            self.select(key)

    # -- actions

    def action_cycle(self, delta: int) -> None:
        ids = sorted(self.console.lab_state.agents)
        if not ids:
            return
        i = ids.index(self.agent_id) if self.agent_id in ids else 0
        self._commits = None
        self.select(ids[(i + delta) % len(ids)])

    def action_follow(self) -> None:
        log = self.query_one(LogView)
        log.follow = not log.follow
        if log.follow:
            log.scroll_end(animate=False)
        self._show_log_title()

    def action_raw(self) -> None:
        log = self.query_one(LogView)
        log.raw = not log.raw
        log.refresh()
        self._show_log_title()

    def _show_log_title(self) -> None:
        """Follow and raw are modes the person must see without pressing anything: in the log's border."""
        log = self.query_one(LogView)
        log.border_title = f"Log · {self._log_for or '-'}"
        if self.console.replay is not None:
            older = f"the last {log.line_count} " if self._replay_more else ""
            log.border_title += f" · {older}events up to #{self.console.cursor}"
        log.border_subtitle = (
            f"{log.line_count} lines · follow {'ON' if log.follow else 'off'} (f) · "
            f"{'raw JSON' if log.raw else 'readable'} (j)"
        )

    def on_log_view_indexed(self, message: LogView.Indexed) -> None:
        self._show_log_title()

    @decision("agent control")
    def action_control(self, action: str) -> None:
        agent_id = self.agent_id
        if agent_id is None:
            return
        source = self.console.source
        call = lambda: source.agent_control(agent_id, action)  # noqa: E731
        questions = {
            "stop": f"Stop {agent_id}? Its process is ended and its task goes back to the queue (R starts it again).",
            "restart": f"Restart {agent_id}? Its process is ended if running and started afresh; "
            "an unfinished task is sent to it again.",
        }
        if action in questions:
            self.console.confirm_command(questions[action], action.capitalize(), action, call)
        else:
            self.console.run_command(action, call)

    @decision("message")
    def action_message(self) -> None:
        agent_id = self.agent_id
        if agent_id is None:
            return

        def answered(text: str | None) -> None:
            if text:
                self.console.run_command("message", lambda: self.console.source.send_message(agent_id, text))

        self.app.push_screen(PromptDialog(f"Message to {agent_id}", placeholder="text"), answered)
