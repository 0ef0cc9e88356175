"""The ticket state machine (pure: no database): which action may move a ticket from which
status to which, and who may take it.

    draft ──受理 accept──▶ accepted ──交办 dispatch──▶ dispatched ──签收 sign──▶ in_progress
      │ 不予受理 reject → rejected          │ 转办 transfer → transferred      │ 答复 reply
      │ 直接答复 answer → closed             │ 直接答复 answer → closed         ▼
                                                                      reviewing (审核)
    dispatched / in_progress ──退单 return──▶ returned ──改派 redispatch──▶ dispatched
    reviewing ──审核通过 approve──▶ follow_up ──回访 follow_up (满意) / 办结 close──▶ closed
    reviewing ──退回重办 send_back──▶ in_progress
    follow_up ──回访不满意 (reopen_on_dissatisfied)──▶ dispatched (the same department, re-sign)
    any open status ──并单 merge──▶ merged (into another open ticket)

Terminal: rejected, transferred, closed, merged. Every successful action appends one
TicketEvent (see services.py); `request_extension` / `decide_extension` keep the status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hotline.db.models import Role, TicketStatus

S = TicketStatus


class Action(enum.StrEnum):
    ACCEPT = "accept"  # 受理
    REJECT = "reject"  # 不予受理
    ANSWER = "answer"  # 直接答复 → 办结
    DISPATCH = "dispatch"  # 交办
    TRANSFER = "transfer"  # 转办
    SIGN = "sign"  # 签收
    REPLY = "reply"  # 答复 (department)
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    DECIDE_EXTENSION = "decide_extension"  # 延期审批
    RETURN = "return"  # 退单
    REDISPATCH = "redispatch"  # 改派
    APPROVE = "approve"  # 审核通过 → 回访
    SEND_BACK = "send_back"  # 审核退回重办
    FOLLOW_UP = "follow_up"  # 回访结果 → 办结 or reopen
    CLOSE = "close"  # 办结 without a survey (回访无法接通, 市民不需回访)
    MERGE = "merge"  # 并单

    @property
    def label(self) -> str:
        return ACTION_LABELS[self]


ACTION_LABELS = {
    Action.ACCEPT: "受理", Action.REJECT: "不予受理", Action.ANSWER: "直接答复",
    Action.DISPATCH: "交办", Action.TRANSFER: "转办", Action.SIGN: "签收",
    Action.REPLY: "答复", Action.REQUEST_EXTENSION: "申请延期",
    Action.DECIDE_EXTENSION: "延期审批", Action.RETURN: "退单", Action.REDISPATCH: "改派",
    Action.APPROVE: "审核通过", Action.SEND_BACK: "退回重办", Action.FOLLOW_UP: "回访",
    Action.CLOSE: "办结", Action.MERGE: "并单",
}

STATUS_LABELS = {
    S.DRAFT: "待受理", S.ACCEPTED: "已受理", S.REJECTED: "不予受理", S.DISPATCHED: "已交办",
    S.TRANSFERRED: "已转办", S.IN_PROGRESS: "承办中", S.RETURNED: "已退单", S.REVIEWING: "待审核",
    S.FOLLOW_UP: "待回访", S.CLOSED: "已办结", S.MERGED: "已并单",
}

TERMINAL = frozenset({S.REJECTED, S.TRANSFERRED, S.CLOSED, S.MERGED})
OPEN = frozenset(TicketStatus) - TERMINAL

HOTLINE_STAFF = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
HANDLERS = frozenset({Role.HANDLER})
# Not a person: the IVR, the web channel, the follow-up dialer, the deadline job.
SYSTEM = "system"


@dataclass(frozen=True)
class Step:
    action: Action
    sources: frozenset[TicketStatus]
    # None: the target depends on the input (follow_up: closed or reopened) or keeps the status.
    target: TicketStatus | None
    roles: frozenset[Role]
    system_allowed: bool = False  # may be taken by a system actor (dialer, IVR)


STEPS: dict[Action, Step] = {s.action: s for s in (
    Step(Action.ACCEPT, frozenset({S.DRAFT}), S.ACCEPTED, HOTLINE_STAFF),
    Step(Action.REJECT, frozenset({S.DRAFT}), S.REJECTED, HOTLINE_STAFF),
    Step(Action.ANSWER, frozenset({S.DRAFT, S.ACCEPTED}), S.CLOSED, HOTLINE_STAFF),
    Step(Action.DISPATCH, frozenset({S.ACCEPTED}), S.DISPATCHED, HOTLINE_STAFF),
    Step(Action.TRANSFER, frozenset({S.ACCEPTED}), S.TRANSFERRED, HOTLINE_STAFF),
    Step(Action.SIGN, frozenset({S.DISPATCHED}), S.IN_PROGRESS, HANDLERS),
    Step(Action.REPLY, frozenset({S.IN_PROGRESS}), S.REVIEWING, HANDLERS),
    Step(Action.REQUEST_EXTENSION, frozenset({S.IN_PROGRESS}), None, HANDLERS),
    Step(Action.DECIDE_EXTENSION, frozenset({S.IN_PROGRESS, S.REVIEWING}), None, SUPERVISORS),
    Step(Action.RETURN, frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.RETURNED, HANDLERS),
    Step(Action.REDISPATCH, frozenset({S.RETURNED}), S.DISPATCHED, SUPERVISORS),
    Step(Action.APPROVE, frozenset({S.REVIEWING}), S.FOLLOW_UP, HOTLINE_STAFF),
    Step(Action.SEND_BACK, frozenset({S.REVIEWING}), S.IN_PROGRESS, HOTLINE_STAFF),
    Step(Action.FOLLOW_UP, frozenset({S.FOLLOW_UP}), None, HOTLINE_STAFF, system_allowed=True),
    Step(Action.CLOSE, frozenset({S.FOLLOW_UP}), S.CLOSED, HOTLINE_STAFF),
    Step(Action.MERGE, frozenset(OPEN), S.MERGED, HOTLINE_STAFF),
)}


class WorkflowError(Exception):
    """A refused step; `status` is the HTTP status it maps to, `field` the input at fault."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidStep(WorkflowError):
    """The action does not apply to the ticket's current status (HTTP 409)."""

    status = 409


class StaleTicket(WorkflowError):
    """Someone changed the ticket since the caller read it (optimistic locking, HTTP 409)."""

    status = 409


class NotAllowed(WorkflowError):
    """The actor's role or department may not take this action (HTTP 403)."""

    status = 403


class TicketNotFound(WorkflowError):
    status = 404


def check_step(action: Action, status: TicketStatus, role: Role | None) -> Step:
    """The step, or a clear refusal. `role` None is a system actor (dialer, IVR, web)."""
    step = STEPS[action]
    if role is None and not step.system_allowed:
        raise NotAllowed(f"「{action.label}」须由工作人员操作")
    if role is not None and role not in step.roles:
        raise NotAllowed(f"{role.label}不能执行「{action.label}」")
    if status not in step.sources:
        raise InvalidStep(
            f"工单状态为「{STATUS_LABELS[status]}」，不能执行「{action.label}」", field="action")
    return step


def available_actions(status: TicketStatus, role: Role | None) -> list[Action]:
    """The actions the UI offers for a ticket in `status` to a user of `role`."""
    return [a for a, s in STEPS.items()
            if status in s.sources and (role in s.roles if role else s.system_allowed)]
