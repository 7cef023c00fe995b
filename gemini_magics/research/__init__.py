"""Background runs (Deep Research and other agents, ``--background`` turns) that never get stuck.

* ``tracker.py`` follows one interaction in a daemon thread: stream with resume, stall watchdog, polling
  fallback with capped backoff, back to streaming when it works.
* ``tasks.py`` holds this kernel's trackers, re-attaches after a restart and settles the chain.
* ``progress.py`` is the live progress widget; ``panel.py`` the panel of every run of the notebook.
* ``commands.py`` implements ``%gemini tasks | panel | wait | show | cancel``.

Nothing here is imported by ``%load_ext``; ipywidgets is imported only when a widget is built.
"""
