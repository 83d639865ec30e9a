"""Renderers for results: text for people, JSON for scripts, GitHub annotations for CI."""
