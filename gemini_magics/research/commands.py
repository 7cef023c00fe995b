"""Background-run subcommands: ``%gemini tasks``, ``panel``, ``wait [ID]``, ``approve [ID]``, ``show [ID]``,
``cancel [ID]``.

``commands.py`` dispatches to these; each takes the cell runner and the rest of the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import statuses
from ..backend import BackendError
from ..cell import CellError
from ..render.static import code_span
from .tasks import static_result, stopped_waiting, tasks_of

if TYPE_CHECKING:
    from ..cell import CellRunner, Defaults


def _one_id(rest: str, name: str) -> str | None:
    words = rest.split()
    if len(words) > 1:
        raise CellError(
            f"%gemini {name} takes at most one interaction ID; to send a prompt that starts with "
            f"'{name}', write %gemini -- {name} …"
        )
    return words[0] if words else None


def tasks(runner: CellRunner, rest: str) -> None:
    """List this notebook's background runs; follow the running ones again (after a kernel restart)."""
    from IPython.display import display

    from .panel import table_markdown
    from .progress import show

    if rest.strip():
        raise CellError("%gemini tasks takes no argument (%gemini -- tasks … sends a prompt)")
    found = tasks_of(runner)
    attached = found.attach()
    text = table_markdown(found.rows())
    if attached:
        ids = ", ".join(code_span(t.id) for t in attached)
        text += f"\n\nFollowing again: {ids} (their progress is shown below)."
    display({"text/markdown": text, "text/plain": text}, raw=True)
    for tracker in attached:
        show(tracker)


def panel(runner: CellRunner, rest: str) -> Any:
    """The live panel of every background run of this notebook (a table outside a kernel)."""
    from ..render.view import in_kernel
    from .panel import Panel, PanelText

    if rest.strip():
        raise CellError("%gemini panel takes no argument (%gemini -- panel … sends a prompt)")
    found = tasks_of(runner)
    found.attach()
    return Panel(found) if in_kernel() else PanelText(found)


def wait(runner: CellRunner, rest: str) -> Any:
    """Block until a run ends (the newest running one without ID — or, when every run of this kernel has
    ended, the newest: a run that ended before the cell got to it is not an error, and a replayed one
    ends at once); its result, static. Ctrl-C stops waiting only: the run goes on, nothing is asked."""
    wanted = _one_id(rest, "wait")
    found = tasks_of(runner)
    tracker = found.find(wanted, running=True)
    if tracker is None and wanted:
        tracker = found.follow(wanted, "?", None, None)  # not started from this notebook: just follow it
    if tracker is None:
        ended = found.find(None)
        tracker = ended if ended is not None and ended.result is not None else None
    if tracker is None:
        raise CellError("no background run is running in this notebook (%gemini tasks lists them)")
    try:
        tracker.wait()
    except KeyboardInterrupt:
        print(stopped_waiting(tracker.id))
        return None
    if tracker.result is None:
        raise CellError(f"{tracker.id} is no longer followed by this kernel: run %gemini tasks")
    result = static_result(tracker.result)
    if not result.ok:
        from IPython.display import display

        display(result)
        reason = result.error or statuses.reason(result.status)
        raise CellError(f"{result.status}: {reason}; the conversation was not advanced")
    return result


def show(runner: CellRunner, rest: str) -> Any:
    """Render a finished run's report again (the newest completed one without ID)."""
    wanted = _one_id(rest, "show")
    found = tasks_of(runner)
    if wanted is None:
        done = [r for r in found.rows() if statuses.is_success(r.status)]
        if not done:
            raise CellError("no completed background run in this notebook yet (%gemini tasks lists them)")
        wanted = done[-1].interaction_id
    tracker = found.trackers.get(wanted)
    if tracker is not None and not tracker.done and not tracker.stopped:
        raise CellError(
            f"{wanted} is still {tracker.state.status}: %gemini wait {wanted} blocks until it ends"
        )
    try:
        result = found.report(wanted)
    except BackendError as exc:
        hint = (
            " (to send a prompt that starts with 'show', write %gemini -- show …)"
            if exc.status == 404
            else ""
        )
        raise CellError(f"{exc}{hint}") from None
    if result.status in statuses.RUNNING:
        raise CellError(f"{wanted} is still {result.status}: %gemini wait {wanted} blocks until it ends")
    return result


def cancel(runner: CellRunner, rest: str) -> None:
    """Cancel a running background interaction (the newest running one without ID)."""
    wanted = _one_id(rest, "cancel")
    found = tasks_of(runner)
    tracker = found.find(wanted, running=True)
    if tracker is None and wanted:
        try:
            interaction = runner.backend.cancel(wanted)
        except BackendError as exc:
            raise CellError(str(exc)) from None
        print(f"{wanted}: {interaction.status}")
        return
    if tracker is None:
        raise CellError("no background run is running in this notebook")
    print(f"{tracker.id}: {tracker.cancel()}")


def approve(runner: CellRunner, rest: str, namespace: dict[str, Any], defaults: Defaults) -> Any:
    """Start the research as a plan proposed it (``planning.py``): the approval, chained to the plan,
    with collaborative planning off; followed like any run (its live handle)."""
    from ..options import CellRequest
    from .planning import APPROVAL, PlanningError, to_approve

    wanted = _one_id(rest, "approve")
    chain = runner.store.active_name(runner.notebook)

    def known(interaction_id: str) -> tuple[str, str, str] | None:
        found = runner.store.find(interaction_id)
        if found is None or found[0] != runner.notebook:
            return None
        return found[2].model, found[1], found[2].status

    try:
        plan = to_approve(tasks_of(runner).plans, wanted, chain, known)
    except PlanningError as exc:
        raise CellError(str(exc)) from None
    request = CellRequest(
        agent=plan.agent,
        branch_from=plan.interaction_id,
        chain=plan.chain or chain,
        visualize=plan.visualize,
        approve=True,
    )
    return runner.send(request, [APPROVAL], namespace, defaults)
