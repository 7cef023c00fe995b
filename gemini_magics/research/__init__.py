"""Background runs (Deep Research and other agents, ``--background`` turns) that never get stuck.

* ``tracker.py`` follows one interaction in a daemon thread: stream with resume, stall watchdog, polling
  fallback with capped backoff, back to streaming when it works; ``state.py`` holds what it knows and
  tells its listeners; ``hops.py`` continues a followed interaction past the output limit.
* ``tasks.py`` holds this kernel's trackers, re-attaches after a restart and settles the chain.
* ``planning.py``: Deep Research's collaborative planning (``--plan``, edits, ``%gemini approve``).
* ``progress.py`` is the live progress widget; ``panel.py`` the panel of every run of the notebook.
* ``commands.py`` implements ``%gemini tasks | panel | wait | approve | show | cancel``.

Nothing here is imported by ``%load_ext``; ipywidgets is imported only when a widget is built.
"""
