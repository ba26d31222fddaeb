"""The editors' Telegram bot: commands, approvals, content files from the chat, notices.

Modules: ``app`` (:func:`~dispatcher.bot.app.start_bot`, ``BotHandle``: the bot's life
inside ``pregonero run``), ``handlers`` (the python-telegram-bot ``Application`` and its
handlers), ``gate`` (editors only, private chats only), ``commands`` and ``buttons`` (what
editors can do), ``documents`` (a ``.md`` sent to the bot goes through the inbox's intake),
``preview`` (``/vista``), ``dates`` (Spanish dates), ``reports`` (``/cola``, the daily
summary), ``notify`` (failures and the summary reach the editors), ``webhook`` (optional).

The bot has no business rules or SQL of its own: approvals, release and scheduling are
:mod:`dispatcher.services.approvals` (shared with the CLI and the desk); what it shows comes
from the ledger's read models (:mod:`dispatcher.ledger.queries`,
:mod:`dispatcher.ledger.reports`).
"""
