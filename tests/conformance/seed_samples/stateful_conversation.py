# The seed document's own Python sample, verbatim (reconstructed from the garbled seed,
# /work/shared/seed/000_ce7a31dd626254f6.txt): Stateful Conversation.
# Written for google-genai 1.55.0 (pre-GA shape). Do not edit: tests/conformance/test_seed_samples.py
# runs it unmodified; only GOOGLE_GEMINI_BASE_URL and GEMINI_API_KEY point it at the emulator.
# ruff: noqa
# fmt: off

from google import genai

client = genai.Client()

# First turn
interaction1 = client.interactions.create(
    model="gemini-3-flash-preview",
    input="Hi, my name is Phil."
)

# Second turn — server remembers context
interaction2 = client.interactions.create(
    model="gemini-3-flash-preview",
    input="What is my name?",
    previous_interaction_id=interaction1.id
)

print(interaction2.outputs[-1].text)
