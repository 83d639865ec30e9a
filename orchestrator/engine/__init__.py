"""Desired against live state: planning actions and executing them."""
