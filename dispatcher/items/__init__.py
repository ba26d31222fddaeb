"""The content model: what an editor writes (front matter, body, media), how it is parsed
and validated (one path for the inbox, ``check``, the bot and the desk), and the plan.
The innermost layer: it imports nothing else of ``dispatcher``."""
