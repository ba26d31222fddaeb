"""Composition: ``loop`` runs intake, runners, the scheduler and the bot for
``pregonero run``; ``worker`` is the arq worker of ``pregonero worker``."""
