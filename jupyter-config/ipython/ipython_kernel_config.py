"""gemini-magics: ``%%gemini`` and ``%gemini`` in every IPython kernel of this environment, no ``%load_ext``.

pip installs this file as ``<environment>/etc/ipython/ipython_kernel_config.py``, a directory IPython reads
for every kernel started from this environment. It declares the magic lazily
(``MagicsManager.lazy_magics``): a kernel imports nothing of gemini-magics until a cell first uses
``%%gemini`` or ``%gemini``, which then loads the extension as ``%load_ext gemini_magics`` would.

Turn it off for one kernel or server with ``GEMINI_MAGICS_AUTOLOAD=0`` in its environment, or for good in
a profile's own config (``~/.ipython/profile_default/ipython_kernel_config.py``, read after this file)::

    c.MagicsManager.lazy_magics = {}
"""

import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821

if os.environ.get("GEMINI_MAGICS_AUTOLOAD", "1").strip().lower() not in ("0", "false", "no", "off"):
    # update(), not assignment: other packages' lazy magics declared in other config files are kept.
    c.MagicsManager.lazy_magics.update({"gemini": "gemini_magics"})
