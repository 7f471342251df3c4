"""How far trading_svc has applied the subscription-change stream (table stream_cursors),
shared by its processes: a process that starts resumes from the furthest point any of them
recorded, so a restart replays what it missed instead of starting at the stream's end.
Applying an entry twice changes nothing (the projection keeps the newest version), so the
cursor only ever needs to be far enough, never exact.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import utcnow
from trading_svc.tables import stream_cursors


def stream_order(entry_id: str) -> tuple[int, int]:
    """A Redis stream id ("<ms>-<seq>") as something that sorts like one."""
    ms, _, seq = entry_id.partition("-")
    return int(ms or 0), int(seq or 0)


class CursorStore:
    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self._engine = engine
        self._name = name

    async def get(self) -> str | None:
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(stream_cursors.c.last_id).where(stream_cursors.c.name == self._name)
                )
            ).scalar_one_or_none()
        return None if found is None else str(found)

    async def advance(self, entry_id: str) -> None:
        """Records `entry_id` unless the cursor is already past it."""
        async with self._engine.begin() as conn:
            current = (
                await conn.execute(
                    sa.select(stream_cursors.c.last_id)
                    .where(stream_cursors.c.name == self._name)
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if current is None:
                await conn.execute(
                    stream_cursors.insert().values(
                        name=self._name, last_id=entry_id, update_time=utcnow()
                    )
                )
            elif stream_order(entry_id) > stream_order(str(current)):
                await conn.execute(
                    stream_cursors.update()
                    .where(stream_cursors.c.name == self._name)
                    .values(last_id=entry_id, update_time=utcnow())
                )
