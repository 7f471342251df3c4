"""Who may write the catalog: a bot belongs to its author, and only its author (or an admin
key) may change it or its listings.

The author is the principal a marketplace key names in x-principal-id when it publishes the
bot, else the publishing key itself (a bots:write or admin key, by key id). A principal-owned
bot may be changed through any marketplace key naming that principal (a marketplace key acts
for the principals it names); a key-owned bot only by that key, acting for no principal.

To anyone else a bot is NOT_FOUND exactly as one that does not exist: a writer learns
nothing from the refusal that a read would not tell them, and cannot probe ownership.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from credential_svc.catalog.bots import BotRecord
from mesh.errors import NotFound, Unauthenticated

# Scopes whose key may author a bot itself, without naming a principal.
KEY_AUTHOR_SCOPES = frozenset({"bots:write", "admin"})


@dataclass(frozen=True)
class Actor:
    """The caller of a catalog write: its key, the principal it acts for, and admin power."""

    key_id: str
    principal: str | None
    admin: bool

    @classmethod
    def of(cls, key_id: str, scopes: Set[str], principal: str | None) -> Actor:
        """A marketplace key authors only for a principal: without one it is nobody."""
        if principal is None and not scopes & KEY_AUTHOR_SCOPES:
            raise Unauthenticated(
                "a marketplace key writes the catalog for a principal: send x-principal-id",
                reason="PRINCIPAL_MISSING",
            )
        return cls(key_id=key_id, principal=principal, admin="admin" in scopes)

    @property
    def author_principal(self) -> str:
        """What a bot published by this actor records as its principal author ("" for none)."""
        return self.principal or ""


def owns(actor: Actor, bot: BotRecord) -> bool:
    if actor.admin:
        return True
    if bot.author_principal:
        return actor.principal == bot.author_principal
    return actor.principal is None and actor.key_id == bot.author_key_id


def bot_not_found(bot_id: str) -> NotFound:
    """The one answer for a bot that is missing and for one the caller may not change."""
    return NotFound(f"bot {bot_id} does not exist", reason="BOT_NOT_FOUND")


def check_owner(actor: Actor, bot: BotRecord) -> BotRecord:
    if not owns(actor, bot):
        raise bot_not_found(bot.bot_id)
    return bot
