"""Showing blocks: static Markdown/PNG that survives in .ipynb files, rich widgets, and the live view."""
