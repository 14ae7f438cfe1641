"""The wizard's frame: the step list on the left, one pane per step beside it (screens/panes/),
keys in the footer. The app holds the session, moves between the steps, and runs the slow work
in worker threads (screens/background.py), handing each result to the pane that shows it.

The first screen is painted before the core is imported: the settings model (pydantic), the
configuration readers and the rules load in a worker thread, with the server's files, while the
overview says so. The overview's text usually comes sooner, from the reader the command line
forked before Textual loaded (screens/overview.py). Until the worker is done only Help and Quit
do anything, and Start or Load preset pressed early is carried out when it is. The panes of the
steps of settings are built on their first visit.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, NamedTuple

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import ContentSwitcher, Footer, Header, OptionList
from textual.worker import Worker, WorkerState

from wizard.styled import Display

from . import background
from .apply_progress import ApplyProgress
from .dialogs.confirm import Confirm
from .dialogs.help import Help
from .dialogs.preset_picker import PresetPicker
from .fields import FieldRow
from .overview import EarlyOverview
from .panes.apply import ApplyPane
from .panes.fields import FieldsPane
from .panes.overview import OverviewPane
from .panes.pane import Pane
from .panes.review import ReviewPane
from .step_list import StepList
from .steps import STEP_IDS, STEPS, step

if TYPE_CHECKING:
    from rich.text import Text

    from wizard.change.live import Result
    from wizard.change.plan import Plan
    from wizard.errors import WizardError
    from wizard.server.state import Server
    from wizard.session import Session
    from wizard.settings.presets import Preset
    from wizard.traffic.analysis import Traffic


class Loaded(NamedTuple):
    """What the loader gives the app: the server as read, and a preset to start from."""
    server: Server
    preset: Preset | None = None


Loader = Callable[[], Loaded]


class WhenDone(NamedTuple):
    """Where a worker's outcome goes, on the app's thread."""
    done: Callable[[Any], Any]                            # its result
    failed: Callable[[BaseException], Any] | None = None  # what it raised (None: ignored)


class WizardApp(App):
    TITLE = "postfix-wizard"
    ENABLE_COMMAND_PALETTE = False
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+n", "next", "Next", priority=True),
        Binding("ctrl+p", "back", "Back", priority=True),
        Binding("ctrl+r", "reset_current", "Now", priority=True,
                tooltip="Put the server's current value back in the field"),
        Binding("ctrl+t", "reset_default", "Default", priority=True,
                tooltip="Put Postfix's default in the field"),
        Binding("ctrl+o", "load_preset", "Preset", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("q", "quit", "Quit", show=False),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, load: Loader, backup_dir: Path, *, reload: bool = True,
                 notes: tuple[str, ...] = (), display: Display = str,
                 light: bool = False, early: EarlyOverview | None = None,
                 logs: list[str] | None = None) -> None:
        super().__init__()
        self.logs = logs                 # None: the server's own mail log
        self.early = early
        self.theme = "textual-light" if light else "textual-dark"
        self.load = load
        self.server: Server | None = None
        self.session: Session | None = None
        self.backup_dir = backup_dir
        self.reload_services = reload
        self.notes = notes
        self.show_path = display
        self.step_id = "overview"
        self.visited = {"overview"}
        self.applied = False
        self.ready = asyncio.Event()     # set once the configuration is read
        self.pressed_early: Callable[[], Awaitable[None]] | None = None
        self.when_done: dict[Worker, WhenDone] = {}
        self.applying: Worker | None = None      # the change, while it runs

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with Horizontal():
            yield StepList()
            with ContentSwitcher(initial="overview"):
                yield OverviewPane()
                for each in STEPS[1:-2]:          # filled on first visit (start-up time)
                    yield FieldsPane(each)
                yield ReviewPane(self.show_path)
                yield ApplyPane(self.backup_dir, self.show_path, self.reload_services)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_steps()
        if self.early is not None:
            self.run_in_thread(self.early.receive, self.early_overview_received,
                               name="early-overview")
        self.call_after_refresh(self.start_reading)

    def on_unmount(self) -> None:
        if self.early is not None:
            self.early.cancel()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Before the configuration is read, and on the apply screen, only Help and Quit work."""
        if action in ("help", "quit"):
            return True
        return self.session is not None and not isinstance(self.screen, ApplyProgress)

    # Workers ------------------------------------------------------------------------------------

    def run_in_thread(self, work: Callable[[], Any], done: Callable[[Any], Any], *,
                      failed: Callable[[BaseException], Any] | None = None, name: str,
                      exit_on_error: bool = False) -> Worker:
        """Run `work` in a worker thread; what it returns goes to `done`, what it raises to
        `failed` (if given), on the app's thread. The worker object is the key, not its name
        (which is only for Textual's logs)."""
        worker = self.run_worker(work, name=name, thread=True, exit_on_error=exit_on_error)
        self.when_done[worker] = WhenDone(done, failed)
        return worker

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        when = self.when_done.pop(event.worker, None)
        if when is None:
            return
        if event.state == WorkerState.SUCCESS:
            outcome = when.done(event.worker.result)
        elif event.state == WorkerState.ERROR and when.failed is not None:
            outcome = when.failed(event.worker.error)
        else:
            return
        if inspect.isawaitable(outcome):
            await outcome

    # The configuration, read -------------------------------------------------------------------

    def start_reading(self) -> None:
        """After the first paint. An exception other than the core's own ends the app."""
        self.run_in_thread(
            lambda: background.read_configuration(self.load, self.show_path, self.notes),
            self.configuration_read, name="read-configuration", exit_on_error=True)

    def early_overview_received(self, overview: Text | None) -> None:
        if overview is not None:                 # None: the forked reader sent nothing
            self.show_early_overview(overview)

    def show_early_overview(self, overview: Text, tries: int = 20) -> None:
        """After the first paint is whole: the Footer fills in its keys a refresh later."""
        if not any(key.region for key in self.query_one(Footer).children) and tries:
            self.set_timer(0.01, lambda: self.show_early_overview(overview, tries - 1))
        else:
            self.call_after_refresh(self.update_overview, overview)

    async def update_overview(self, overview: Text) -> None:
        if self.session is None:             # else the worker's own text is already there
            await self.query_one(OverviewPane).show(overview)

    async def configuration_read(self, read: background.Configuration | WizardError) -> None:
        if isinstance(read, Exception):
            self.exit(read)                      # the command line reports it
            return
        self.server, self.session = read.server, read.session
        await self.query_one(OverviewPane).show(read.overview)
        await self.query_one(ApplyPane).fill(read.session)
        self.refresh_steps()
        self.refresh_bindings()                  # check_action now allows every key
        self.run_in_thread(self.read_traffic, self.traffic_read, name="read-traffic")
        self.ready.set()
        if self.pressed_early is not None:       # a button pressed before the session was read
            await self.pressed_early()

    # Steps --------------------------------------------------------------------------------------

    def refresh_steps(self) -> None:
        self.query_one(StepList).show(self.step_id, self.visited, self.session)
        for pane in self.query(FieldsPane):
            pane.show_summary()

    async def go_to(self, step_id: str) -> None:
        self.step_id = step_id
        self.visited.add(step_id)
        pane = self.query_one(f"#{step_id}", Pane)
        await pane.prepare(self.session)
        self.query_one(ContentSwitcher).current = step_id
        self.refresh_steps()
        pane.focus_first()

    @on(OptionList.OptionSelected, "#steps")
    async def step_chosen(self, event: OptionList.OptionSelected) -> None:
        await self.go_to(str(event.option.id))

    @on(OverviewPane.StartPressed)
    async def start(self) -> None:
        if self.session is None:                 # the buttons come with the early overview
            self.pressed_early = self.start
            return
        await self.go_to("rates")

    async def action_next(self) -> None:
        current = step(self.step_id)
        errors = self.session.errors_in(list(current.all_keys))
        if errors:
            self.query_one(f"#{current.id}", FieldsPane).show_first_error()
            self.notify(f"{len(errors)} error(s) here; the first is shown in red.",
                        title="Cannot go on", severity="error", timeout=5)
            return
        index = STEP_IDS.index(self.step_id)
        if index + 1 < len(STEP_IDS):
            await self.go_to(STEP_IDS[index + 1])

    async def action_back(self) -> None:
        index = STEP_IDS.index(self.step_id)
        if index > 0:
            await self.go_to(STEP_IDS[index - 1])

    # Fields -------------------------------------------------------------------------------------

    def on_field_row_edited(self, event: FieldRow.Edited) -> None:
        self.refresh_steps()                     # the row's pane has shown its messages

    def focused_row(self) -> FieldRow | None:
        widget = self.focused
        while widget is not None and not isinstance(widget, FieldRow):
            widget = widget.parent
        return widget

    def action_reset_current(self) -> None:
        self.reset_focused(self.session.current_text)

    def action_reset_default(self) -> None:
        self.reset_focused(self.session.default_text)

    def reset_focused(self, text_for: Callable[[str], str]) -> None:
        row = self.focused_row()
        if row is None:
            self.notify("Move to a field first (Tab).", severity="warning")
            return
        row.show_text(text_for(row.key))

    # Presets ------------------------------------------------------------------------------------

    @on(OverviewPane.LoadPresetPressed)
    async def action_load_preset(self) -> None:
        if self.session is None:
            self.pressed_early = self.action_load_preset
            return
        self.push_screen(PresetPicker(), self.preset_chosen)

    def preset_chosen(self, preset: Preset | None) -> None:
        if preset is None:
            return
        self.session.load_preset(preset)
        for pane in self.query(FieldsPane):
            pane.reload()
        self.refresh_steps()
        self.session.mark_saved()
        self.query_one(ApplyPane).show_preset(preset)
        self.notify(f"Loaded preset {preset.name}.")

    async def action_save(self) -> None:
        pane = self.query_one(ApplyPane)
        if not pane.preset_path():               # the pane asks for one
            await self.go_to("apply")
        pane.save_preset()

    # Traffic ------------------------------------------------------------------------------------

    def read_traffic(self) -> Traffic | Exception:
        """In the worker thread; the progress bars move on the app's."""
        def progress(done: int, total: int) -> None:
            self.call_from_thread(self.traffic_progress, done, total)
        return background.read_traffic(self.server, self.logs, progress)

    def traffic_progress(self, done: int, total: int) -> None:
        for pane in self.query(FieldsPane):
            pane.show_progress(done, total)

    def traffic_read(self, traffic: Traffic | Exception) -> None:
        for pane in self.query(FieldsPane):
            pane.show_traffic(traffic)

    # Apply --------------------------------------------------------------------------------------

    def on_apply_pane_approved(self, event: ApplyPane.Approved) -> None:
        self.start_apply(event.plan, event.confirm_seconds)

    def start_apply(self, plan: Plan, confirm_seconds: int | None) -> None:
        """The change runs in a worker; the progress screen shows what it reports."""
        screen = ApplyProgress("Applying the changes", self.show_path)
        self.push_screen(screen, lambda _: self.call_after_refresh(
            lambda: self.query_one(ApplyPane).reveal_result()))

        def say(text: str) -> None:              # in the worker thread
            self.call_from_thread(screen.add_step, text)
        self.applying = self.run_in_thread(
            lambda: background.apply_change(self.server, self.session, plan, self.backup_dir,
                                            reload=self.reload_services,
                                            confirm_seconds=confirm_seconds, progress=say),
            self.change_done, failed=self.change_done, name="apply")   # a bug: shown, too

    def change_done(self, result: Result | BaseException) -> None:
        progress = self.screen if isinstance(self.screen, ApplyProgress) else None
        if isinstance(result, BaseException):
            if progress:
                progress.finish(None, str(result))
        else:
            self.applied = not result.failed
            self.session.mark_saved()
            if progress:
                progress.finish(result)
        self.query_one(ApplyPane).show_result(result, self.server)

    # Help and quit ------------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(Help())

    async def action_quit(self) -> None:
        from wizard.change import pending
        if self.applying is not None and self.applying.is_running:
            self.notify("The change is being applied; quit when it is done.", severity="warning")
            return
        waiting = pending.read(self.backup_dir) if self.session is not None else None
        if waiting is not None:
            self.push_screen(Confirm(
                "Quit?", f"The change is not confirmed. At {waiting.deadline_text()} the "
                "previous files come back and the services are reloaded, whether this wizard "
                "runs or not. To keep the change, confirm it first (or run 'postfix-wizard "
                "confirm' before then). Quit anyway?", yes="Quit", no="Stay"),
                lambda yes: self.exit() if yes else None)
        elif self.session is not None and self.session.dirty and not self.applied:
            self.push_screen(Confirm("Quit?", "Your choices are not saved or applied. "
                                     "Quit anyway?", yes="Quit", no="Stay"),
                             lambda yes: self.exit() if yes else None)
        else:
            self.exit()
