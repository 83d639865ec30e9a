"""The audio behind every media_url the sandbox hands out: a short silent WAV.

Clients that download a recording get a real, playable file of the recording's
channel count (8 kHz, 16-bit PCM, one second), not an empty body.
"""

from __future__ import annotations

import io
import wave
from typing import Final

SAMPLE_RATE_HZ: Final = 8000
SAMPLE_WIDTH_BYTES: Final = 2
SECONDS: Final = 1


def silence(channels: int) -> bytes:
    """One second of silence as a WAV file with ``channels`` channels."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(SAMPLE_WIDTH_BYTES)
        file.setframerate(SAMPLE_RATE_HZ)
        file.writeframes(b"\x00" * (SAMPLE_RATE_HZ * SAMPLE_WIDTH_BYTES * channels * SECONDS))
    return buffer.getvalue()
