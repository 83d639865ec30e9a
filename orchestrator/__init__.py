"""Run phone conferences from version-controlled YAML through Telnyx's TeXML Conferences API."""

__version__ = "0.1.0"
