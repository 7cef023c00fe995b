"""gemini-magics: Gemini's Interactions API as IPython magics, with a local emulator."""

__version__ = "0.1.0"
