"""A ticket-filing process for the crash test: files tickets with idempotency keys
`<prefix>-<i>` through `hotline.tickets.services.create_ticket` (what the desk and the API
call), printing `ok <key> <number>` once each is committed — what a client would see as its
acknowledgement. Killed with SIGKILL in the middle, then run again over every key (a client
retrying what it sent)."""

import asyncio
import sys

from hotline.db import registry  # noqa: F401 - every feature's tables mapped
from hotline.db.engine import create_engine, session_maker
from hotline.db.models import TicketChannel
from hotline.tickets.services import NewTicket, create_ticket


async def main(url: str, prefix: str, count: int) -> None:
    engine = create_engine(url)
    db = session_maker(engine)
    try:
        for i in range(count):
            key = f"{prefix}-{i}"
            async with db() as session:
                created = await create_ticket(session, NewTicket(
                    TicketChannel.WEB, "530100", category="咨询", title=f"故障测试 {i}",
                    content="kill -9 测试", contact_number="13800138000",
                    idempotency_key=key))
            print(f"ok {key} {created.ticket.number} {int(created.created)}", flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
