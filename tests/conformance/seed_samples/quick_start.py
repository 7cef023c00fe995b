# The seed document's own Python sample, verbatim (reconstructed from the garbled seed,
# /work/shared/seed/000_ce7a31dd626254f6.txt): Quick Start, "Interact with a Model".
# Written for google-genai 1.55.0 (pre-GA shape). Do not edit: tests/conformance/test_seed_samples.py
# runs it unmodified; only GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY point it at the emulator.
# ruff: noqa
# fmt: off

from google import genai

client = genai.Client()

interaction = client.interactions.create(
    model="gemini-3-flash-preview",
    input="Tell me a short joke about programming."
)

print(interaction.outputs[-1].text)
