"""The Textual app: holds the source and the current LabState, routes state to screens, runs commands.

Threads: the Lab calls our subscriber on its appending thread; that only puts
the event on a deque. A 10 Hz tick on the UI thread folds the queued events
into the app's own LabState with the same reducer the Lab uses (microseconds
an event) and renders once, so bursts of thousands of events cost at most ten
renders a second, and no deep copy of the lab's state ever holds its lock or
the GIL. The state object never leaves the UI thread. Commands (approve,
merge, …) and replay seeks run in workers.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from collections.abc import Callable

from textual import work
from textual.app import App

from labconsole.errors import LabError
from labconsole.gpu.port import TelemetrySource
from labconsole.gpu.snapshot import GpuSnapshot
from labconsole.events.log import Event
from labconsole.lab import notify
from labconsole.lab.reducer import apply
from labconsole.lab.state import LabState
from labconsole.tui import keymap
from labconsole.tui.decisions import decision, resume_question
from labconsole.tui.messages import CommandDone, StateUpdated
from labconsole.tui.palette import LabCommands
from labconsole.tui.replay_control import ReplayControls
from labconsole.tui.screens.agent import AgentScreen
from labconsole.tui.screens.base import LabScreen
from labconsole.tui.screens.bench import BenchScreen
from labconsole.tui.screens.evals import EvalsScreen
from labconsole.tui.screens.dialogs import ConfirmDialog, QuitDialog
from labconsole.tui.screens.overview import OverviewScreen
from labconsole.tui.screens.profile import ProfileScreen
from labconsole.tui.screens.review import ReviewScreen
from labconsole.tui.screens.viewers import TextViewer, help_table
from labconsole.tui.source import LiveSource, ReplaySource, Source, describe_source

TICK_S = 0.1  # at most ten renders a second
GPU_EVERY_TICKS = 10
CLOCK_EVERY_TICKS = 10  # the header's clock and "last event" age move once a second, events or not
MAX_APPLY_PER_TICK = 20_000  # a flood is folded in over several ticks rather than freezing one


class LabConsoleApp(ReplayControls, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "LabConsole"
    BINDINGS = keymap.bindings("app") + keymap.bindings("replay")
    COMMANDS = App.COMMANDS | {LabCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    MODES = {
        "overview": "overview",
        "review": "review",
        "agent": "agent",
        "bench": "bench",
        "evals": "evals",
        "profile": "profile",
    }

    def __init__(
        self,
        source: Source,
        *,
        attached: bool = False,
        sampler: TelemetrySource | None = None,
        own_sampler: bool = False,
        keymap_overrides: dict[str, str] | None = None,
        notify_config: notify.NotifyConfig | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.attached = attached
        self.sampler = sampler
        self.own_sampler = own_sampler  # we started it, so we stop it
        self.lab_state = LabState()
        self.gpu_live: GpuSnapshot | None = None  # the sampler's latest snapshot
        self.stop_agents = False  # the person chose "stop agents" when quitting
        self.quit_choice: str | None = None  # "stop" | "leave", from the quit dialog
        self.replay: ReplaySource | None = source if isinstance(source, ReplaySource) else None
        self.cursor = -1
        self.replay_event: Event | None = None  # the event at the cursor, handed over by the seek worker
        self.replay_decisions: list[int] = []
        self.replay_head = 0
        self._dirty = True
        self._pending: collections.deque[Event] = collections.deque()  # appended on the lab's thread
        self._ticks = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._search_text = ""
        overrides, self.keymap_problems = keymap.load_keymap(source.lab_root)
        self.notify_config = notify_config
        self.notifier = notify.Notifier()  # fires each "needs you" item once (delivery below, not in it)
        self._send_remote: Callable[[str, str], bool] | None = None
        self.keymap_overrides = {**overrides, **(keymap_overrides or {})}

    # -- properties the screens read

    @property
    def readonly(self) -> bool:
        return self.source.readonly

    @property
    def mode_badge(self) -> str:
        return describe_source(self.source, self.attached)

    def header_extra(self) -> str:
        if self.replay is not None:
            if self.replay.ready:
                return f"event {self.cursor + 1}/{self.replay.count}"
            head = f" (its first {self.replay_head} events shown)" if self.replay_head else ""
            return f"indexing the log…{head}"
        return ""  # a budget pause is in the "needs you" banner

    def now(self) -> float | None:
        """The header's clock: the wall clock live, None in replay (the event's time shows instead)."""
        return None if self.replay is not None else time.time()

    # -- lifecycle

    def on_mount(self) -> None:
        if self.keymap_overrides:
            self.set_keymap(self.keymap_overrides)
        for problem in self.keymap_problems:
            self.notify(problem, title="keymap", severity="warning")
        self.install_screen(OverviewScreen(), "overview")
        self.install_screen(ReviewScreen(), "review")
        self.install_screen(AgentScreen(), "agent")
        self.install_screen(BenchScreen(), "bench")
        self.install_screen(EvalsScreen(), "evals")
        self.install_screen(ProfileScreen(), "profile")
        self.switch_mode("overview")
        if isinstance(self.source, LiveSource):
            self.lab_state, self._unsubscribe = self.source.attach(self._on_lab_event)
            self._setup_notifications()
            if self.sampler is not None:
                self.sampler.start()
            self.set_interval(TICK_S, self._tick)
            self._tick()

    def on_ready(self) -> None:
        # Index in a worker only once the first frame is displayed (Textual's Ready): a million-event
        # index build holds the GIL in long stretches and would hold back the first paint.
        if self.replay is not None:
            self._open_replay()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.sampler is not None and self.own_sampler:
            self.sampler.stop()

    # -- live updates

    def _on_lab_event(self, event: Event, state: LabState) -> None:
        """Runs on the lab's appending thread under its lock: only queue the event (deque is thread-safe)."""
        self._pending.append(event)

    def _tick(self) -> None:
        self._ticks += 1
        if self.sampler is not None and self._ticks % GPU_EVERY_TICKS == 1:
            latest = self.sampler.latest()
            if latest is not None and latest is not self.gpu_live:
                self.gpu_live = latest
                self._dirty = True
        pending, state = self._pending, self.lab_state
        for _ in range(min(len(pending), MAX_APPLY_PER_TICK)):
            event = pending.popleft()
            if event.seq > state.last_seq:  # the attach snapshot may already hold it
                apply(state, event)
                self._dirty = True
        if self._dirty:
            self._dirty = False
            self.post_message(StateUpdated(state))
            self._notify_needs_you(state)
        elif self._ticks % CLOCK_EVERY_TICKS == 0 and isinstance(self.screen, LabScreen):
            self.screen._show_header(state)

    # -- "needs you": the terminal's bell + OSC 9, and the user's apprise URLs

    def _setup_notifications(self) -> None:
        try:
            config = self.notify_config or notify.load_config()
            self._send_remote = notify.apprise_sender(config.urls) if config.urls else None
        except (LabError, ImportError) as exc:  # one line, and the console still runs
            self.notify(f"notifications: {exc}", title="config", severity="warning", timeout=10)
            config = notify.NotifyConfig(urls=[])
        self.notify_config = config
        self.notifier.prime(self.lab_state)  # what already waits is on screen: do not ring for it

    def _notify_needs_you(self, state: LabState) -> None:
        fresh = self.notifier.offer(state)
        if not fresh:
            return
        config = self.notify_config or notify.NotifyConfig()
        for item in fresh:
            self.notify(item.text, title="needs you", severity="warning", timeout=8)
            if config.bell:
                self.terminal_notify(item.text)
            if self._send_remote is not None:
                self._deliver(self._send_remote, item.text)

    def terminal_notify(self, text: str) -> None:
        """Bell, then OSC 9 (a desktop notification in iTerm2, kitty, WezTerm, foot…; ignored elsewhere)."""
        self.bell()
        safe = "".join(ch for ch in text if ch.isprintable())[:200]  # console-made, but never pass escapes on
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(f"\x1b]9;{safe}\x07")

    @work(thread=True, group="notify")
    def _deliver(self, send: Callable[[str, str], bool], text: str) -> None:
        try:
            ok = send("LabConsole", text)
        except Exception as exc:  # a dead webhook must not take the console down
            ok, text = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            self.post_message(CommandDone("notify", False, f"notification not delivered: {text}"))

    def on_state_updated(self, message: StateUpdated) -> None:
        if message.cursor is not None and message.cursor != self.cursor:
            return  # an older replay seek finished after a newer one was asked for
        self.lab_state = message.state
        if message.cursor is not None:
            self.replay_event = message.event
            if message.decisions is not None:
                self.replay_decisions = message.decisions
        self._render_state()

    def _render_state(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, LabScreen) and screen.is_mounted:
                screen.show_state(self.lab_state)
        self.show_timeline()

    # -- commands (workers; errors become notifications)

    @work(thread=True, group="commands")
    def run_command(self, action: str, call: Callable[[], str]) -> None:
        try:
            text = call()
            self.post_message(CommandDone(action, True, text))
        except LabError as exc:
            self.post_message(CommandDone(action, False, str(exc)))
        except Exception as exc:  # a bug or git failure must not take the console down
            self.post_message(CommandDone(action, False, f"{type(exc).__name__}: {exc}"))

    def on_command_done(self, message: CommandDone) -> None:
        self.notify(
            message.text,
            title=message.action,
            severity="information" if message.ok else "error",
            timeout=4 if message.ok else 8,
        )
        self._dirty = True

    def command_merge(self, hyp_id: str) -> None:
        self.run_command("merge", lambda: self.source.merge(hyp_id))

    def command_agent(self, agent_id: str, action: str) -> None:
        self.run_command(action, lambda: self.source.agent_control(agent_id, action))

    # -- navigation

    def action_show_overview(self) -> None:
        self.switch_mode("overview")

    def action_show_review(self) -> None:
        self.switch_mode("review")

    def action_show_agent(self) -> None:
        screen = self.get_screen("overview")
        selected = None
        if isinstance(screen, OverviewScreen) and screen.is_mounted:
            selected = screen.query_one("#agents").selected_key  # type: ignore[attr-defined]
        self.open_agent(selected)

    def action_show_bench(self) -> None:
        self.switch_mode("bench")

    def action_show_evals(self) -> None:
        self.switch_mode("evals")

    def action_show_profile(self) -> None:
        self.switch_mode("profile")

    def open_review(self, hyp_id: str | None) -> None:
        screen = self.get_screen("review")
        assert isinstance(screen, ReviewScreen)
        screen.current = hyp_id
        self.switch_mode("review")

    def open_agent(self, agent_id: str | None) -> None:
        screen = self.get_screen("agent")
        assert isinstance(screen, AgentScreen)
        if agent_id is not None:
            screen.agent_id = agent_id
        self.switch_mode("agent")

    def action_help(self) -> None:
        self.push_screen(TextViewer("Keys", help_table(self.keymap_overrides, self.replay is not None)))

    @decision("resume past budget")
    def action_resume_budget(self) -> None:
        if not self.lab_state.budget.paused:
            self.notify("the budget has not paused the agents: nothing to resume", title="budget")
            return

        self.confirm_command(resume_question(self.lab_state), "Resume", "resume", self.source.resume_after_budget)

    def confirm_command(self, question: str, yes: str, action: str, call: Callable[[], str]) -> None:
        """Ask ``question`` (what will happen, in words); on yes run ``call`` as the command ``action``."""

        def answered(ok: bool | None) -> None:
            if ok:
                self.run_command(action, call)

        self.push_screen(ConfirmDialog(question, yes=f"{yes} (y)", no="Cancel (n)"), answered)

    async def action_quit(self) -> None:
        # Attached to a headless session, or only watching: leave it running, ask nothing.
        if not isinstance(self.source, LiveSource) or self.attached or self.readonly:
            self.exit(0)
            return

        def answered(choice: str | None) -> None:
            if choice is None:
                return
            self.quit_choice = choice
            self.stop_agents = choice == "stop"
            self.exit(0)

        self.push_screen(QuitDialog(), answered)

    # -- read-only and replay gating

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action.startswith("replay_"):
            return self.replay is not None
        return True  # read-only decisions run and say why they are ignored (decisions.decision)


def make_replay_app(session_dir: Path, lab_root: Path | None = None) -> LabConsoleApp:
    return LabConsoleApp(ReplaySource(session_dir, lab_root))
