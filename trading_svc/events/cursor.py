"""Event ids are Redis stream entry ids, "<ms>-<seq>", ordered as pairs of integers.

The cursor a caller passes as `after` has been checked by its proto rule (each part below
10^19); "<ms>" alone means "<ms>-0", as XREAD reads it, and "0" means before every event.
"""

from __future__ import annotations

EventId = tuple[int, int]
START: EventId = (0, 0)


def parse(text: str | bytes) -> EventId:
    raw = text.decode() if isinstance(text, bytes) else text
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def fmt(event_id: EventId) -> str:
    return f"{event_id[0]}-{event_id[1]}"
