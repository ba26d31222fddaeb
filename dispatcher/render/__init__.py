"""Rendering: items → per-channel posts through the jinja2 templates, and the filters."""
