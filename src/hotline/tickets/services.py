"""Ticket workflow logic: every function loads the ticket, checks the step (workflow.py), changes
the row, appends one TicketEvent (actor, time, note) and commits, all in one transaction.

API for the other features (stable; keyword arguments as shown):

- `create_ticket(db, NewTicket(...), actor)` → `Created(ticket, created)`: idempotent by
  `NewTicket.idempotency_key` (a retried submission returns the same ticket, `created=False`).
  The agent desk files tickets from a call with `call_ids=[call.id]` and `channel=PHONE`.
- `act(db, ticket, Action.X, actor, **params)` is the one entry point for every step; the named
  functions below (`accept`, `dispatch`, …) are thin wrappers with typed parameters.
- Follow-up (回访, the dialer of hotline.followup): a ticket enters `follow_up` by `approve`
  (审核通过; `enter_follow_up` is the same step). Two ways to react:
  * `on_follow_up(hook)`: `await hook(db, ticket)` runs INSIDE the transaction that moves the
    ticket to follow_up (before commit), so a job row added there is atomic with the change;
  * or poll: `tickets_awaiting_follow_up(db)` lists tickets in follow_up (restart-safe).
  The bus also gets `{"type": "follow_up", ...}` on topic "tickets" (http layer, notifier.py).
- `record_follow_up_result(db, ticket_id, satisfaction, solved, actor="dialer")`: stores the
  survey answers (TicketSurvey row) and closes the ticket (办结), or — when the citizen is
  dissatisfied and `[tickets] reopen_on_dissatisfied` is true (the default) — reopens it to the
  same department (status dispatched, to be signed again, new deadline).

Errors: `WorkflowError` subclasses (workflow.py) carry the HTTP status: InvalidStep 409 (wrong
status), StaleTicket 409 (version changed), NotAllowed 403, TicketNotFound 404, plain 400.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.models import Role, Ticket, TicketChannel, User
from hotline.tickets.workflow import Action

DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")

# 不予受理 reasons, from the 2017 policy (云政办发〔2017〕137号, 三(二) 不予受理范围).
REJECT_REASONS: dict[str, str] = {
    "emergency": "涉及人身、财产安全，应通过110/119/120/122等紧急渠道求助",
    "legal_process": "民事纠纷或已进入诉讼、仲裁、行政复议、信访复查复核等法定程序",
    "outside_government": "涉及党群、人大、政协、法院、检察院、军队和武警职能",
    "secret_or_privacy": "涉及国家秘密、商业秘密或个人隐私",
}

# 转办 targets besides another prefecture's 12345 (given as its line code "12345-53xx").
TRANSFER_TARGETS: dict[str, str] = {
    "96128": "96128 政务服务热线（省级）",
    "12315": "12315 市场监管热线",
    "12331": "12331 食品药品监管热线",
}


class Satisfaction(enum.StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


@dataclass(frozen=True)
class Actor:
    """Who takes a step: a user, or a system part ("dialer", "ivr", "web", "deadlines")."""

    name: str
    user_id: int | None = None
    role: Role | None = None  # None: a system actor
    department_id: int | None = None
    region_code: str | None = None

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.username, user.id, user.role, user.department_id, user.region_code)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(name)


ActorLike = Actor | User | str


@dataclass(frozen=True)
class NewTicket:
    channel: TicketChannel
    region_code: str
    category: str = ""  # 诉求类型: 咨询 求助 投诉 举报 建议 (sets the deadline)
    topic: str = ""  # 业务分类, e.g. 供水 (picks the department by the dispatch rules)
    title: str = ""
    content: str = ""
    citizen_name: str = ""
    contact_number: str = ""
    line_code: str | None = None
    call_ids: Sequence[int] = ()
    idempotency_key: str | None = None
    emergency_service: str | None = None  # 110/119/120/122 when the matter is an emergency


@dataclass(frozen=True)
class Created:
    ticket: Ticket
    created: bool  # False: the idempotency key found an existing ticket


@dataclass(frozen=True)
class Options:
    """What the workflow needs from the configuration (`[tickets]`, config.TicketsConfig)."""

    zone: ZoneInfo = DEFAULT_ZONE
    reopen_on_dissatisfied: bool = True
    deadline_days: dict[str, int] = field(default_factory=dict)
    default_deadline_days: int = 5
    sign_within_days: int = 1


FollowUpHook = Callable[[AsyncSession, Ticket], Awaitable[None]]
_follow_up_hooks: list[FollowUpHook] = []


def on_follow_up(hook: FollowUpHook) -> Callable[[], None]:
    """Run `hook(db, ticket)` in the transaction of every step that enters follow_up;
    returns a function that removes the hook."""
    _follow_up_hooks.append(hook)
    return lambda: _follow_up_hooks.remove(hook)


async def create_ticket(db: AsyncSession, new: NewTicket, actor: ActorLike = "system", *,
                        options: Options | None = None, now: datetime | None = None) -> Created:
    """File a ticket (status draft) with its number, linked calls, and a `create` event."""
    raise NotImplementedError


async def get_ticket(db: AsyncSession, ref: int | str) -> Ticket:
    """By id or by number; TicketNotFound otherwise."""
    raise NotImplementedError


async def act(db: AsyncSession, ref: int | str, action: Action, actor: ActorLike, *,
              note: str = "", expected_version: int | None = None,
              options: Options | None = None, now: datetime | None = None,
              **params: Any) -> Ticket:
    """Take one workflow step. Parameters per action: reject(reason), dispatch(department_id
    optional: by rules), transfer(target), request_extension(days), decide_extension(grant),
    redispatch(department_id optional), follow_up(satisfaction, solved), merge(into)."""
    raise NotImplementedError


async def enter_follow_up(db: AsyncSession, ref: int | str, actor: ActorLike,
                          **kwargs: Any) -> Ticket:
    """审核通过: reviewing → follow_up (runs the on_follow_up hooks)."""
    return await act(db, ref, Action.APPROVE, actor, **kwargs)


async def record_follow_up_result(db: AsyncSession, ticket_id: int | str,
                                  satisfaction: Satisfaction | str, solved: bool,
                                  actor: ActorLike = "dialer", **kwargs: Any) -> Ticket:
    """Store the survey answers; 办结, or reopen when dissatisfied (per configuration)."""
    return await act(db, ticket_id, Action.FOLLOW_UP, actor, satisfaction=satisfaction,
                     solved=solved, **kwargs)


async def tickets_awaiting_follow_up(db: AsyncSession) -> list[Ticket]:
    """Every ticket in follow_up, oldest first (for a dialer that polls)."""
    raise NotImplementedError
