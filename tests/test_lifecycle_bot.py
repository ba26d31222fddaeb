"""``/retirar ID motivo`` in the bot (issue 12): the Telegram group's message is deleted,
the other channels take it down, and ``/estado`` shows the item ``retirada``; an approval
kind waits for ``/publicar`` by distinct editors."""

from __future__ import annotations

from pathlib import Path

from tests.doubles.telegram import GROUP_CHAT
from tests.test_bot import send_file
from tests.test_bot_support import (
    OTHER_EDITOR,
    BotDouble,
    bot_double_fixture,  # noqa: F401  (the bot_double fixture)
    running_bot,
)


async def test_retirar_takes_the_item_down(bot_double: BotDouble, tmp_path: Path) -> None:
    async with running_bot(bot_double, tmp_path) as rig:
        rig.say("/ayuda")
        assert "/retirar ID motivo" in await rig.reply("/retirar")
        await send_file(rig, "boletin-vias")
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 1
        rig.say("/retirar boletin-vias")
        await rig.reply("Uso: /retirar ID motivo")
        rig.say("/retirar boletin-vias cifra equivocada")
        text = await rig.reply("boletin-vias retirada")
        assert "telegram" in text and "website" in text
        await rig.deliver()
        assert rig.sent(GROUP_CHAT) == []
        rig.say("/estado boletin-vias")
        report = await rig.reply("motivo: cifra equivocada")
        assert "estado: retirada" in report
        rig.say("/retirar boletin-vias otra vez")
        await rig.reply("ya estaba retirada")


async def test_retirar_of_an_approval_kind_waits_for_publicar(
    bot_double: BotDouble, tmp_path: Path
) -> None:
    async with running_bot(bot_double, tmp_path, approvals=True) as rig:
        await send_file(rig, "informe-pae", kind="informe_especial")
        rig.say("/publicar informe-pae", user_id=OTHER_EDITOR)
        await rig.reply("aprobada", chat_id=OTHER_EDITOR)
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 1
        rig.say("/retirar informe-pae datos sin verificar")
        await rig.reply("espera la aprobación de 1 editor(es) (/publicar informe-pae)")
        await rig.deliver()
        assert len(rig.sent(GROUP_CHAT)) == 1  # nothing taken down yet
        rig.say("/publicar informe-pae", user_id=OTHER_EDITOR)
        await rig.reply("informe-pae retirada", chat_id=OTHER_EDITOR)
        await rig.deliver()
        assert rig.sent(GROUP_CHAT) == []
