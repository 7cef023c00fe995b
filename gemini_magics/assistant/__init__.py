"""The notebook-aware assistant: what the model is told about the notebook, and code it hands back.

- ``values.py``: one bounded line (or a few) per variable — name, type, size or shape; a DataFrame's
  columns, dtypes and first rows (``frames.py``). Never a full repr; names that look like secrets only say
  their type.
- ``context.py``: ``--context cells|vars|all`` (and ``GeminiMagics.context``): the cells run before
  (sources and their ``Out`` values, newest first) and the user's variables, scrubbed of the API key and
  cut to ``context_chars`` characters in all, sent as a text part before the prompt; the footer says what
  went.
- ``code.py``: the Python blocks of an answer, and a new cell below with them (``set_next_input``, not
  run) — ``--code`` and ``%gemini fix``.
- ``fix.py``: ``%gemini fix [INSTRUCTIONS]``: the last failed cell, its traceback (the notebook's frames
  only) and the variables it uses go to the model as one stateless interaction (``store=false``: the chain
  and ``%gemini history`` do not change); the explanation is shown and the corrected cell is put below.

Everything here reads the notebook through IPython's public state (``In``/``Out``, the history manager,
``last_execution_result``, ``user_ns_hidden``) and never imports pandas: a DataFrame is recognised by its
shape (``frames.is_frame``), so pandas is only touched when the user's namespace already holds one.
"""
