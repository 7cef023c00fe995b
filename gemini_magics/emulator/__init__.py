"""A local, offline emulator of the Gemini Interactions API that the real google-genai SDK talks to.

It is the embedded default backend of the magics (no API key → emulator), the backend of the tests and
example notebooks, and the bench for fault injection. It imports nothing from the magics side.
"""

from .app import Emulator, Settings
from .server import EmulatorServer, start

__all__ = ["Emulator", "EmulatorServer", "Settings", "start"]
