"""Benchmarks of orchestrator against the sandbox, side by side with the official SDK.

Run them with ``python -m bench <name>`` from the repository root; see bench/README.md.
"""
