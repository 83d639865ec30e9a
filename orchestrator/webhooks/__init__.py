"""Webhooks as Telnyx sends them: Ed25519 signatures, and a local receiver to watch them."""
