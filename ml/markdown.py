"""Markdown pieces that stay intact inside tables and inline code, whatever the text holds."""

from __future__ import annotations


def cell(text: object) -> str:
    """Table-safe text: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: object) -> str:
    value = cell(text)
    fence = "``" if "`" in value else "`"
    return f"{fence}{value}{fence}"
