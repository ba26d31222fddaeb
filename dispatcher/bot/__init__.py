"""The editors' Telegram bot: commands, approvals, content files from the chat, notices.

Modules: ``app`` (:func:`~dispatcher.bot.app.start_bot`, ``run_bot``, ``BotHandle``: the
bot's life inside ``pregonero run``), ``handlers`` (the python-telegram-bot ``Application``
and its handlers), ``gate`` (editors only, private chats only), ``commands`` and ``buttons`` (what editors can do), ``documents`` (a ``.md`` sent to the bot
goes through the inbox's intake), ``preview`` (``/vista``), ``approvals`` (approve, release,
schedule — shared with the CLI), ``dates`` (Spanish dates), ``reports`` (``/cola``, the daily
summary), ``notify`` (failures and the summary reach the editors), ``webhook`` (optional),
``tables`` (the ``approvals`` table on the ledger's metadata).

Heavy imports stay in the submodules: ``from dispatcher.services.approvals import approve`` does
not load python-telegram-bot.
"""

from __future__ import annotations
