# The seed document's own Python sample, verbatim (reconstructed from the garbled seed,
# /work/shared/seed/000_ce7a31dd626254f6.txt): Deep Research Agent.
# Written for google-genai 1.55.0 (pre-GA shape). Do not edit: tests/conformance/test_seed_samples.py
# runs it unmodified; only GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY point it at the emulator.
# ruff: noqa
# fmt: off

import time
from google import genai

client = genai.Client()

# Start background research
interaction = client.interactions.create(
    agent="deep-research-pro-preview-12-2025",
    input="Research the history of Google TPUs.",
    background=True
)

# Poll for results
while True:
    interaction = client.interactions.get(interaction.id)
    if interaction.status == "completed":
        print(interaction.outputs[-1].text)
        break
    elif interaction.status == "failed":
        print(f"Failed: {interaction.error}")
        break
    time.sleep(10)
