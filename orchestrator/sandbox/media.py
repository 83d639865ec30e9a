"""The audio behind every media_url the sandbox hands out: a short silent WAV.

Clients that download a recording get a real, playable file of the recording's
channel count (8 kHz, 16-bit PCM, one second), not an empty body.
"""

from __future__ import annotations

import struct


def silence(channels: int) -> bytes:
    """One second of silence as a WAV file with ``channels`` channels."""
    rate, width, seconds = 8000, 2, 1
    data = b"\x00" * (rate * width * channels * seconds)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * width * channels, width * channels, 16
    )
    return header + b"data" + struct.pack("<I", len(data)) + data
