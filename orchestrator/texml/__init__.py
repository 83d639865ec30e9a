"""The TeXML Conferences API: its contract and orchestrator's client for it."""
