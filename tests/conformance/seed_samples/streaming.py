# The seed document's own Python sample, verbatim (reconstructed from the garbled seed,
# /work/shared/seed/000_ce7a31dd626254f6.txt): Streaming.
# Written for google-genai 1.55.0 (pre-GA shape). Do not edit: tests/conformance/test_seed_samples.py
# runs it unmodified; only GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY point it at the emulator.
# ruff: noqa
# fmt: off

from google import genai

client = genai.Client()

stream = client.interactions.create(
    model="gemini-3-flash-preview",
    input="Explain quantum entanglement in simple terms.",
    stream=True
)

for chunk in stream:
    if chunk.event_type == "content.delta":
        if chunk.delta.type == "text":
            print(chunk.delta.text, end="", flush=True)
    elif chunk.event_type == "interaction.complete":
        print(f"\n\nTotal Tokens: {chunk.interaction.usage.total_tokens}")
