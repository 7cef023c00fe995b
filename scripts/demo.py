"""A short tour of the Interactions API: the seed's samples, against Gemini or the local emulator.

With GEMINI_API_KEY (or GOOGLE_API_KEY) set it talks to Gemini; otherwise it starts the offline emulator
in this process and says so. The same code runs against both.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    from google import genai
    from google.genai import types

    server = None
    if os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"):
        client = genai.Client()
        print("Backend: Gemini (API key found)\n")
    else:
        from gemini_magics.emulator import EmulatorServer, Settings

        server = EmulatorServer(Settings(agent_seconds=6))
        base_url = server.start()
        client = genai.Client(api_key="offline", http_options=types.HttpOptions(base_url=base_url))
        print(f"Backend: offline emulator at {base_url} (set GEMINI_API_KEY to use Gemini)\n")
    try:
        tour(client)
    finally:
        if server is not None:
            server.stop()
    return 0


def tour(client) -> None:
    model = "gemini-3-flash-preview"
    print("1. Quick start")
    interaction = client.interactions.create(model=model, input="Tell me a short joke about programming.")
    print("  ", interaction.output_text, "\n")

    print("2. Stateful conversation (server-side state through previous_interaction_id)")
    first = client.interactions.create(model=model, input="Hi, my name is Phil.")
    second = client.interactions.create(
        model=model, input="What is my name?", previous_interaction_id=first.id
    )
    print("   > Hi, my name is Phil.\n  ", first.output_text)
    print("   > What is my name?\n  ", second.output_text, "\n")

    print("3. Streaming")
    print("   ", end="")
    for event in client.interactions.create(
        model=model, stream=True, input="Explain quantum entanglement in simple terms."
    ):
        if event.event_type == "step.delta" and event.delta.type == "text":
            print(event.delta.text, end="", flush=True)
        elif event.event_type == "interaction.completed":
            print(f"\n   (total tokens: {event.interaction.usage.total_tokens})\n")

    print("4. Deep Research in the background (polling)")
    research = client.interactions.create(
        agent="deep-research-pro-preview-12-2025",
        background=True,
        input="Research the history of Google TPUs.",
    )
    started = time.monotonic()
    while True:
        research = client.interactions.get(research.id)
        if research.status != "in_progress":
            break
        print(f"\r   {research.status} … {time.monotonic() - started:4.0f} s", end="", flush=True)
        time.sleep(1)
    print(f"\r   {research.status} after {time.monotonic() - started:.0f} s\n")
    print("\n".join("   " + line for line in (research.output_text or "").splitlines()[:12]))


if __name__ == "__main__":
    sys.exit(main())
