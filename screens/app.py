"""The wizard: a step list on the left, one pane per step, keys in the footer.

The first screen is painted before the core is imported: the settings model (pydantic), the
configuration readers and the rules load in a worker thread, with the server's files, while the
overview says so. The overview's text usually comes sooner, from the reader the command line
forked before Textual loaded (screens/overview.py). Until the worker is done only Help and Quit
do anything, and Start or Load preset pressed early is carried out when it is.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, NamedTuple

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, ContentSwitcher, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from .apply_progress import ApplyProgress
from .dialogs import Confirm, Help, PresetPicker
from .fields import FieldRow
from .overview import Display, EarlyOverview, overview_text
from .steps import STEP_IDS, STEPS, TCP_ONLY, UNIX_ONLY, Step, step

if TYPE_CHECKING:
    from wizard import rules
    from wizard.change.live import Result
    from wizard.traffic.report import Traffic
    from wizard.settings.presets import Preset
    from wizard.server.state import Server
    from wizard.session import Session


class Loaded(NamedTuple):
    """What the loader gives the app: the server as read, and a preset to start from."""
    server: Server
    preset: Preset | None = None


Loader = Callable[[], Loaded]


CONFIRM_MINUTES = 5
TRAFFIC_STEPS = ("rates", "resources")       # the steps whose limits the mail log speaks about


class WizardApp(App):
    TITLE = "postfix-wizard"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #steps { width: 25; border: none; padding: 0; background: $panel; }
    ContentSwitcher { width: 1fr; }
    .pane { padding: 0 1; }
    .pane-title { text-style: bold; color: $accent; }
    .summary { margin-bottom: 1; }
    .summary.error { color: $text-error; text-style: bold; }
    .summary.ok { color: $text-success; }
    .buttons { height: auto; margin: 1 0; }
    .buttons Button { margin-right: 2; }
    Collapsible { padding: 0; border: none; }
    #review-tabs { height: auto; }
    .diff { height: auto; }
    #apply .label { text-style: bold; margin-top: 1; }
    #result { margin-top: 1; }
    .traffic-row { height: auto; margin-bottom: 1; }
    .traffic-status { width: 1fr; color: $text-accent; }
    .traffic-bar { width: 24; }
    """
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
        self.traffic: Traffic | Exception | None = None
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

    # Layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with Horizontal():
            yield OptionList(id="steps")
            with ContentSwitcher(initial="overview"):
                yield self._overview()
                for each in STEPS[1:-2]:          # filled on first visit (start-up time)
                    yield VerticalScroll(id=each.id, classes="pane")
                yield VerticalScroll(id="review", classes="pane")
                yield VerticalScroll(id="apply", classes="pane")
        yield Footer()

    def _overview(self) -> VerticalScroll:
        return VerticalScroll(
            Static("Overview: what was found", classes="pane-title"),
            Static("Reading the Postfix and Dovecot configuration…", id="overview-text"),
            id="overview", classes="pane")

    async def build_pane(self, each: Step) -> None:
        from textual.widgets import Collapsible     # the steps' widgets load after first paint
        pane = self.query_one(f"#{each.id}", VerticalScroll)
        if pane.children:
            return
        children = [Static(each.title, classes="pane-title"),
                    Static("", classes="summary", id=f"summary-{each.id}")]
        if each.id in TRAFFIC_STEPS:
            from textual.widgets import ProgressBar
            children.append(Horizontal(
                Static(self.traffic_status(), classes="traffic-status", markup=False),
                ProgressBar(total=None, show_eta=False, classes="traffic-bar"),
                classes="traffic-row"))
        children += [FieldRow(self.session, key) for key in each.keys]
        if each.advanced:
            children.append(Collapsible(*[FieldRow(self.session, key) for key in each.advanced],
                                        title=each.advanced_title, collapsed=True,
                                        classes="advanced"))
        await pane.mount_all(children)
        for row in pane.query(FieldRow):
            row.show_findings(self.session.findings_for([row.key]))
            row.show_traffic(self.traffic if not isinstance(self.traffic, Exception) else None)
        for bar in pane.query(".traffic-bar"):
            bar.display = self.traffic is None
        self.show_socket_fields()

    def _apply_pane(self) -> list:
        name = self.session.preset.name if self.session.preset else "my-hardening"
        return [
            Static("Save and apply", classes="pane-title"),
            Static("Save your choices as a preset (Ctrl+S):"),
            Static("Preset file", classes="label"),
            Input(placeholder="e.g. /root/hardening.toml", id="preset-file", compact=True),
            Static("Name", classes="label"),
            Input(name, placeholder="a short name", id="preset-name", compact=True),
            Static("Description", classes="label"),
            Input("", placeholder="who it is for and why", id="preset-description",
                  compact=True),
            Horizontal(Button("Save preset", id="save-button"), classes="buttons"),
            Static("Apply, then check the live server (the live check):"),
            Horizontal(Button("Apply…", id="apply-button", variant="warning"),
                       Button(f"Apply, confirm in {CONFIRM_MINUTES} min…",
                              id="apply-confirm-button", variant="warning",
                              disabled=not self.reload_services,
                              tooltip="Rolled back on its own unless you confirm in time"),
                       classes="buttons"),
            Static("" if self.reload_services else
                   "Reloads are off: no live check, so nothing to confirm.", id="no-confirm"),
            Static("", id="result")]

    def on_mount(self) -> None:
        self.refresh_steps()
        if self.early is not None:
            self.run_worker(self.early.receive, thread=True, name="early-overview",
                            exit_on_error=False)
        self.call_after_refresh(self.run_worker, self.read_configuration, thread=True,
                                name="read-configuration")

    def on_unmount(self) -> None:
        if self.early is not None:
            self.early.cancel()

    def read_configuration(self) -> tuple | Exception:
        """In a worker thread: import the core, read the server, judge it. The result goes to
        on_worker_state_changed, on the app's own thread."""
        from wizard.errors import WizardError
        from wizard.session import Session
        try:
            server, preset = self.load()
            session = Session(server)
            if preset is not None:
                session.load_preset(preset)
            return server, session, overview_text(server, self.show_path, self.notes)
        except WizardError as error:
            return error

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "apply" and event.state == WorkerState.ERROR:
            self.change_done(event.worker.error)      # a bug: shown, not a frozen screen
        if event.state != WorkerState.SUCCESS:
            return
        if event.worker.name == "apply":
            self.change_done(event.worker.result)
            return
        if event.worker.name == "read-traffic":
            self.traffic_read(event.worker.result)
            return
        if event.worker.name == "early-overview":
            if event.worker.result is not None:
                self.show_early_overview(event.worker.result)
            return
        if event.worker.name != "read-configuration":
            return
        if isinstance(event.worker.result, Exception):
            self.exit(event.worker.result)           # the command line reports it
        else:
            await self.configuration_read(*event.worker.result)

    def show_early_overview(self, overview: Text, tries: int = 20) -> None:
        """After the first paint is whole: the Footer fills in its keys a refresh later."""
        if not any(key.region for key in self.query_one(Footer).children) and tries:
            self.set_timer(0.01, lambda: self.show_early_overview(overview, tries - 1))
        else:
            self.call_after_refresh(self.update_overview, overview)

    async def update_overview(self, overview: Text) -> None:
        if self.session is None:             # else the worker's own text is already there
            self.query_one("#overview-text", Static).update(overview)
            await self.show_overview_buttons()

    async def show_overview_buttons(self) -> None:
        if not self.query("#start"):
            await self.query_one("#overview").mount(
                Horizontal(Button("Start", id="start", variant="primary"),
                           Button("Load preset", id="load-preset"), classes="buttons"))
            self.query_one("#start", Button).focus()

    async def configuration_read(self, server: Server, session: Session, overview: Text) -> None:
        self.server, self.session = server, session
        self.query_one("#overview-text", Static).update(overview)
        await self.show_overview_buttons()
        await self.query_one("#apply", VerticalScroll).mount_all(self._apply_pane())
        self.refresh_steps()
        self.refresh_bindings()                  # check_action now allows every key
        self.run_worker(self.read_traffic, thread=True, name="read-traffic", exit_on_error=False)
        self.ready.set()
        if self.pressed_early is not None:       # a button pressed before the session was read
            await self.pressed_early()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Before the configuration is read, and on the apply screen, only Help and Quit work."""
        if action in ("help", "quit"):
            return True
        return self.session is not None and not isinstance(self.screen, ApplyProgress)

    # Steps -----------------------------------------------------------------------------------

    def refresh_steps(self) -> None:
        steps = self.query_one("#steps", OptionList)
        highlighted = STEP_IDS.index(self.step_id)
        steps.clear_options()
        steps.add_options([Option(self.step_label(number, each), id=each.id)
                           for number, each in enumerate(STEPS, start=1)])
        steps.highlighted = highlighted
        for each in STEPS[1:-2]:
            if self.query(f"#summary-{each.id}"):
                self.refresh_summary(each)

    def step_label(self, number: int, each: Step) -> Text:
        errors = self.error_count(each) if self.session is not None else 0
        if errors:
            mark, style = "✗", "bold red"
        elif each.id in self.visited and each.id != self.step_id:
            mark, style = "✓", "green"
        else:
            mark, style = "·", "dim"
        label = Text(f"{mark} ", style=style)
        label.append(f"{number} {each.title}", "bold" if each.id == self.step_id else "")
        if errors:
            label.append(f" ({errors})", "bold red")
        return label

    def error_count(self, each: Step) -> int:
        from wizard import rules
        if each.id == "review":
            return len(rules.errors(self.session.all_findings()))
        return len(self.session.errors_in(list(each.all_keys))) if each.all_keys else 0

    def refresh_summary(self, each: Step) -> None:
        summary = self.query_one(f"#summary-{each.id}", Static)
        errors = self.session.errors_in(list(each.all_keys))
        warnings = [f for f in self.session.findings_for(list(each.all_keys))
                    if f.severity == "warning"]
        summary.remove_class("error", "ok")
        if errors:
            summary.add_class("error")
            summary.update(f"{len(errors)} error(s) on this screen: fix them to go on.")
        else:
            summary.add_class("ok")
            summary.update("No errors here." + (f" {len(warnings)} warning(s)." if warnings else ""))

    async def go_to(self, step_id: str) -> None:
        self.step_id = step_id
        self.visited.add(step_id)
        if step_id == "review":
            await self.show_review()
        elif step(step_id).all_keys:
            await self.build_pane(step(step_id))
        self.query_one(ContentSwitcher).current = step_id
        self.refresh_steps()
        pane = self.query_one(f"#{step_id}")
        focusable = [w for w in pane.query("Input, Checkbox, RadioSet, Button, Tabs")
                     if w.display and w.focusable]
        if focusable:
            # no scrolling: a just-built pane has no settled layout yet, and the first field
            # is at the top anyway
            focusable[0].focus(scroll_visible=False)

    @on(OptionList.OptionSelected, "#steps")
    async def step_chosen(self, event: OptionList.OptionSelected) -> None:
        await self.go_to(str(event.option.id))

    async def action_next(self) -> None:
        current = step(self.step_id)
        errors = self.session.errors_in(list(current.all_keys))
        if errors:
            self.show_first_error(current)
            self.notify(f"{len(errors)} error(s) here; the first is shown in red.",
                        title="Cannot go on", severity="error", timeout=5)
            return
        index = STEP_IDS.index(self.step_id)
        if index + 1 < len(STEP_IDS):
            await self.go_to(STEP_IDS[index + 1])

    def show_first_error(self, current: Step) -> None:
        """Bring the first field with an error into view, its message included, and focus it."""
        for row in self.query_one(f"#{current.id}").query(FieldRow):
            if self.session.errors_in([row.key]):
                for collapsible in row.ancestors_with_self:
                    if collapsible.has_class("advanced"):
                        collapsible.collapsed = False
                widget = row.query("Input, Checkbox, RadioSet")
                if widget:
                    widget.first().focus(scroll_visible=False)
                # after the layout has settled: the row's message may have just appeared
                self.call_after_refresh(self.reveal, row)
                return

    def reveal(self, row: FieldRow) -> None:
        """Scroll a field's message into view, only if it is not on screen already."""
        message = row.query_one(".message")
        pane = self.query_one(f"#{self.step_id}")
        if not pane.region.contains_region(message.region):
            message.scroll_visible(animate=False)

    async def action_back(self) -> None:
        index = STEP_IDS.index(self.step_id)
        if index > 0:
            await self.go_to(STEP_IDS[index - 1])

    # Fields --------------------------------------------------------------------------------------

    def on_field_row_edited(self, event: FieldRow.Edited) -> None:
        pane = self.query_one(f"#{self.step_id}")
        for row in pane.query(FieldRow):
            row.show_findings(self.session.findings_for([row.key]))
        if event.row.key == "sasl.socket":
            self.show_socket_fields()
        self.refresh_steps()

    def show_socket_fields(self) -> None:
        tcp = self.session.fields["sasl.socket"].text == "tcp"
        for key in UNIX_ONLY + TCP_ONLY:
            for row in self.query(f"#field-{key.replace('.', '-')}").results(FieldRow):
                row.display = (key in TCP_ONLY) == tcp

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

    def reload_fields(self) -> None:
        for row in self.query(FieldRow):
            row.show_text(self.session.fields[row.key].text)
            row.show_findings(self.session.findings_for([row.key]))
        self.show_socket_fields()
        self.refresh_steps()

    # Presets --------------------------------------------------------------------------------------

    @on(Button.Pressed, "#load-preset")
    async def action_load_preset(self) -> None:
        if self.session is None:
            self.pressed_early = self.action_load_preset
            return
        self.push_screen(PresetPicker(), self.preset_chosen)

    def preset_chosen(self, preset: Preset | None) -> None:
        if preset is None:
            return
        self.session.load_preset(preset)
        self.reload_fields()
        self.session.mark_saved()
        self.query_one("#preset-name", Input).value = preset.name
        self.query_one("#preset-description", Input).value = preset.description
        self.notify(f"Loaded preset {preset.name}.")

    @on(Button.Pressed, "#save-button")
    async def action_save(self) -> None:
        path_text = self.query_one("#preset-file", Input).value.strip()
        if not path_text:
            await self.go_to("apply")
            self.query_one("#preset-file", Input).focus()
            self.notify("Type the path of the preset file, then press Ctrl+S again.")
            return
        from wizard.settings import presets
        from wizard.settings.presets import PresetError
        path = Path(path_text).expanduser()
        loaded = self.session.preset
        document = loaded.document if loaded and loaded.path == path else None
        try:
            presets.save(path, self.session.chosen(), self.query_one("#preset-name", Input).value,
                         self.query_one("#preset-description", Input).value, document)
        except PresetError as error:
            self.notify(error.message, title="Not saved", severity="error")
            return
        self.session.mark_saved()
        self.notify(f"Saved {self.show_path(path)}.")

    # Traffic ------------------------------------------------------------------------------------

    def read_traffic(self) -> Traffic | Exception:
        """In a worker thread: the mail log, read for the limits screens (wizard/traffic)."""
        from wizard.errors import WizardError
        from wizard.traffic import server_logs

        def progress(done: int, total: int) -> None:
            self.call_from_thread(self.traffic_progress, done, total)
        try:
            return server_logs.read(self.server, self.logs, progress=progress)
        except (OSError, WizardError, ValueError) as error:
            return error

    def traffic_progress(self, done: int, total: int) -> None:
        for bar in self.query(".traffic-bar"):
            bar.update(total=total or None, progress=done)

    def traffic_read(self, traffic: Traffic | Exception) -> None:
        self.traffic = traffic
        for status in self.query(".traffic-status"):
            status.update(self.traffic_status())
        for bar in self.query(".traffic-bar"):
            bar.display = False
        for row in self.query(FieldRow):
            row.show_traffic(traffic if not isinstance(traffic, Exception) else None)

    def traffic_status(self) -> str:
        traffic = self.traffic
        if traffic is None:
            return "Reading the mail log, for the limits below…"
        if isinstance(traffic, Exception):
            return f"The mail log could not be read ({traffic}): limits judged without traffic."
        if not traffic.clients:
            return "No mail log with smtpd traffic to read: limits judged without traffic."
        import time
        when = "–".join(time.strftime("%b %d %H:%M", time.gmtime(t))
                        for t in (traffic.first, traffic.last) if t is not None)
        names = ", ".join(Path(source).name for source in traffic.tally.sources)
        return (f"Traffic in {names} ({when}): {sum(c.connections for c in traffic.clients)} "
                f"connections from {len(traffic.clients)} clients.")

    # Review and apply ------------------------------------------------------------------------------

    async def show_review(self) -> None:
        review = self.query_one("#review", VerticalScroll)
        await review.remove_children()
        plan = self.session.plan()
        findings = self.session.all_findings()
        widgets = [Static("Review: findings and the exact changes", classes="pane-title"),
                   Static(self.findings_text(findings), classes="summary")]
        if plan.changes:
            from textual.widgets import TabbedContent, TabPane
            tabs = TabbedContent(id="review-tabs")
            for change in plan.changes:        # what `with TabbedContent():` does in compose
                tabs.compose_add_child(TabPane(change.path.name, Static(
                    diff_text(change.unified(self.show_path(change.path))), classes="diff")))
            widgets.append(tabs)
        else:
            widgets.append(Static("No file would change: every value is what the server has."))
        await review.mount_all(widgets)

    def findings_text(self, findings: list[rules.Finding]) -> Text:
        from wizard import rules
        out = Text()
        errors = rules.errors(findings)
        if not findings:
            return Text("No errors and no warnings.", "green")
        out.append(f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)\n",
                   "bold red" if errors else "bold yellow")
        for finding in findings:
            out.append(f"{finding.severity.upper()}: ",
                       "bold red" if finding.severity == "error" else "bold yellow")
            out.append(f"{finding.message}\n  Fix: {finding.fix}\n")
        return out

    @on(Button.Pressed, "#apply-button")
    def ask_to_apply(self) -> None:
        self.ask_before_applying(None)

    @on(Button.Pressed, "#apply-confirm-button")
    def ask_to_apply_and_confirm(self) -> None:
        self.ask_before_applying(CONFIRM_MINUTES * 60)

    def ask_before_applying(self, confirm_seconds: int | None) -> None:
        from wizard.change import pending
        from wizard.errors import WizardError
        try:
            pending.refuse_if_pending(self.backup_dir)
        except WizardError as refusal:
            self.notify(str(refusal), title="Cannot apply", severity="error")
            return
        plan = self.session.plan()
        if plan.blocked:
            self.notify("There are errors: see Review (Ctrl+P). Nothing was written.",
                        title="Cannot apply", severity="error")
            return
        if not plan.changes:
            self.notify("Nothing to apply: no file would change.")
            return
        names = "\n".join(f"  {self.show_path(c.path)}" for c in plan.changes)
        reloads = ("Postfix and Dovecot are reloaded if they run, and the live server is "
                   "checked; if the check fails, the previous files come back at once."
                   if self.reload_services else "No service is reloaded (reloads are off).")
        later = (f"\n\nYou then have {CONFIRM_MINUTES} minutes to confirm. If you do not (say, "
                 "the change cut you off), the previous files come back on their own."
                 if confirm_seconds else "")
        self.push_screen(Confirm("Apply these changes?",
                                 f"The wizard will write:\n{names}\n\nEach file is backed up "
                                 f"first. {reloads}{later}", yes="Apply"),
                         lambda yes: self.start_apply(plan, confirm_seconds) if yes else None)

    def start_apply(self, plan, confirm_seconds: int | None) -> None:
        """The change runs in a worker; the progress screen shows its steps."""
        progress = ApplyProgress("Applying the changes", self.show_path)
        self.push_screen(progress, lambda _: self.call_after_refresh(
            lambda: self.query_one("#result").scroll_visible(animate=False)))

        def step(text: str) -> None:
            self.call_from_thread(progress.add_step, text)
        self.run_worker(lambda: self.run_change(plan, confirm_seconds, step), thread=True,
                        name="apply", exit_on_error=False)

    def run_change(self, plan, confirm_seconds: int | None, step) -> Result | Exception:
        """In the worker thread: the transaction, the live check and, if it fails, the way
        back (wizard/live.py)."""
        from wizard.change import live, transaction
        from wizard.errors import WizardError
        target = transaction.target_for(self.server, self.session.chosen())
        writes = transaction.writes_for(plan.changes)
        dirs = live.Dirs(self.server.postfix_dir, self.server.dovecot_dir,
                                self.backup_dir)
        try:
            return live.run(lambda inner: transaction.apply(
                writes, target, self.backup_dir, reload=self.reload_services, step=inner),
                dirs, probe_after=self.reload_services, confirm_seconds=confirm_seconds,
                step=step)
        except (WizardError, OSError) as error:
            return error

    def change_done(self, result: Result | Exception) -> None:
        progress = self.screen if isinstance(self.screen, ApplyProgress) else None
        if isinstance(result, Exception):
            text = Text(f"NOT APPLIED: {self.show_path(str(result))}", "bold red")
            if progress:
                progress.finish(None, str(result))
        else:
            self.applied = not result.failed
            self.session.mark_saved()
            text = self.result_text(result)
            if progress:
                progress.finish(result)
        self.query_one("#result", Static).update(text)

    def result_text(self, result: Result) -> Text:
        outcome = result.outcome
        out = Text()
        if result.failed:
            out.append(result.verdict() + "\n", "bold red")
            return out
        out.append("Applied.\n", "bold green")
        if result.report is not None:
            out.append(result.verdict() + "\n", "green")
        for path in outcome.written:
            out.append(f"  wrote {self.show_path(path)}\n")
        out.append(f"Backup set {outcome.backup.id} in {self.show_path(self.backup_dir)}\n")
        out.append("Reloaded: " + (", ".join(outcome.reloaded) or "nothing") + "\n")
        for note in outcome.notes:
            out.append(f"NOTE: {note}\n", "yellow")
        out.append("To undo: ", "bold")
        out.append(f"postfix-wizard rollback {outcome.backup.id} "
                   f"--postfix-dir {self.show_path(self.server.postfix_dir)} "
                   f"--dovecot-dir {self.show_path(self.server.dovecot_dir)} "
                   f"--backup-dir {self.show_path(self.backup_dir)}\n")
        return out

    # Help and quit ---------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(Help())

    @on(Button.Pressed, "#start")
    async def start(self) -> None:
        if self.session is None:                 # the buttons come with the early overview
            self.pressed_early = self.start
            return
        await self.go_to("rates")

    async def action_quit(self) -> None:
        from wizard.change import pending
        if any(w.name == "apply" and w.is_running for w in self.workers):
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


def diff_text(diff: str) -> Text:
    out = Text()
    for line in diff.splitlines():
        style = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
        out.append(line + "\n", "bold" if line[:3] in ("+++", "---") else style)
    return out
