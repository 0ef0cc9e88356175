"""What each workflow step does to the rows besides the status (services.act runs them).

Parameters (keyword arguments of `act`), besides `note`:
  accept(category?, topic?)            reject(reason: a REJECT_REASONS key)
  answer(note required)                dispatch / redispatch(department_id?: else the rules)
  transfer(target: 96128 | 12315 | 12331 | a line code 12345-53xx)
  sign()  reply(note required)  request_extension(days, note = reason)
  decide_extension(grant: bool)        return(note = reason)   send_back(note = reason)
  approve()  follow_up(satisfaction, solved)  close(note)  merge(into: ticket id or number)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.db.models import (
    Department,
    HotlineLine,
    Role,
    Ticket,
    TicketCall,
    TicketEvent,
    TicketStatus,
    User,
)
from hotline.tickets.deadlines import calendar_for
from hotline.tickets.models import (
    DispatchRule,
    ExtensionStatus,
    SurveySatisfaction,
    TicketAssignment,
    TicketExtension,
    TicketMerge,
    TicketSurvey,
)
from hotline.tickets.queries import get_ticket
from hotline.tickets.settings import DEFAULT_DEADLINE_DAYS
from hotline.tickets.workflow import TERMINAL, Action, TicketNotFound, WorkflowError

if TYPE_CHECKING:
    from hotline.config import Settings

S = TicketStatus

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
SATISFACTION_LABELS = {SurveySatisfaction.SATISFIED: "满意",
                       SurveySatisfaction.BASICALLY: "基本满意",
                       SurveySatisfaction.DISSATISFIED: "不满意"}
MAX_EXTENSION_DAYS = 30
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")


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


ActorLike = Actor | User | str


def as_actor(actor: ActorLike) -> Actor:
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, User):
        return Actor.of(actor)
    return Actor(str(actor)[:64] or "system")


@dataclass(frozen=True)
class Options:
    """What the workflow needs from the configuration (`[tickets]`, tickets/settings.py)."""

    zone: ZoneInfo = DEFAULT_ZONE
    reopen_on_dissatisfied: bool = True
    deadline_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS))
    default_deadline_days: int = 5
    sign_within_days: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        tickets = settings.tickets
        return cls(zone=settings.zone, reopen_on_dissatisfied=tickets.reopen_on_dissatisfied,
                   deadline_days=dict(tickets.deadline_days),
                   default_deadline_days=tickets.default_deadline_days,
                   sign_within_days=tickets.sign_within_days)

    def days_for(self, category: str) -> int:
        return self.deadline_days.get(category, self.default_deadline_days)


FollowUpHook = Callable[[AsyncSession, Ticket], Awaitable[None]]
_follow_up_hooks: list[FollowUpHook] = []


def on_follow_up(hook: FollowUpHook) -> Callable[[], None]:
    """Run `hook(db, ticket)` in the transaction of every step that enters follow_up;
    returns a function that removes the hook."""
    _follow_up_hooks.append(hook)
    return lambda: _follow_up_hooks.remove(hook)


async def run_follow_up_hooks(db: AsyncSession, ticket: Ticket) -> None:
    for hook in list(_follow_up_hooks):
        await hook(db, ticket)


@dataclass
class StepContext:
    db: AsyncSession
    ticket: Ticket
    actor: Actor
    note: str
    options: Options
    now: datetime
    params: dict[str, Any]

    def due(self, days: int, start: datetime | None = None) -> datetime:
        return calendar_for(self.options.zone).add_working_days(start or self.now, days)

    def required_note(self, what: str) -> str:
        if not self.note:
            raise WorkflowError(f"请填写{what}", field="note")
        return self.note


@dataclass(frozen=True)
class Outcome:
    note: str
    status: TicketStatus | None = None  # None: the step's fixed target (or unchanged)


def _join(*parts: str) -> str:
    return "；".join(p for p in parts if p)


async def _current_assignment(ctx: StepContext) -> TicketAssignment:
    assignment = await ctx.db.scalar(
        select(TicketAssignment).where(TicketAssignment.ticket_id == ctx.ticket.id)
        .order_by(TicketAssignment.id.desc()).limit(1))
    if assignment is None:
        raise WorkflowError("工单没有交办记录")
    return assignment


async def _department_for(ctx: StepContext) -> Department:
    ticket, wanted = ctx.ticket, ctx.params.get("department_id")
    if wanted is None:
        regions = [ticket.region_code, ticket.region_code[:4] + "00"]
        rules = (await ctx.db.scalars(select(DispatchRule).where(
            DispatchRule.region_code.in_(regions), DispatchRule.topic.in_([ticket.topic, ""]),
        ))).all()
        # The most specific rule: this region before its prefecture, the topic before "".
        rules = sorted(rules, key=lambda r: (regions.index(r.region_code), r.topic == ""))
        if not rules:
            raise WorkflowError(f"「{ticket.topic or '未分类'}」没有交办规则，请选择承办单位",
                                field="department_id")
        wanted = rules[0].department_id
    try:
        department = await ctx.db.get(Department, int(wanted))
    except (TypeError, ValueError):
        department = None
    if department is None or not department.active:
        raise WorkflowError("承办单位不存在或已停用", field="department_id")
    if department.region_code[:4] != ticket.region_code[:4]:
        raise WorkflowError("只能交办给本地区的承办单位；其他地区的事项请转办",
                            field="department_id")
    return department


async def _assign(ctx: StepContext, *, reopened: bool = False) -> str:
    department = await _department_for(ctx)
    ticket = ctx.ticket
    if reopened or ticket.due_at is None:
        ticket.due_at = ctx.due(ctx.options.days_for(ticket.category))
    ticket.department_id = department.id
    ctx.db.add(TicketAssignment(
        ticket_id=ticket.id, department_id=department.id, dispatched_at=ctx.now,
        sign_due_at=ctx.due(ctx.options.sign_within_days), due_at=ticket.due_at,
        reopened=reopened, return_reason=""))
    return f"交办至{department.name}"


async def _accept(ctx: StepContext) -> Outcome:
    for name in ("category", "topic"):
        value = ctx.params.get(name)
        if value is not None:
            setattr(ctx.ticket, name, str(value).strip()[:64])
    days = ctx.options.days_for(ctx.ticket.category)
    ctx.ticket.due_at = ctx.due(days)
    return Outcome(_join(f"办理时限 {days} 个工作日", ctx.note))


async def _reject(ctx: StepContext) -> Outcome:
    reason = ctx.params.get("reason")
    if reason not in REJECT_REASONS:
        raise WorkflowError("请选择不予受理的理由：" + "、".join(REJECT_REASONS), field="reason")
    ctx.ticket.closed_at = ctx.now
    return Outcome(_join(REJECT_REASONS[reason], ctx.note))


async def _answer(ctx: StepContext) -> Outcome:
    ctx.ticket.closed_at = ctx.now
    return Outcome(_join("直接答复", ctx.required_note("答复内容")))


async def _dispatch(ctx: StepContext) -> Outcome:
    return Outcome(_join(await _assign(ctx), ctx.note))


async def _transfer(ctx: StepContext) -> Outcome:
    target = str(ctx.params.get("target") or "")
    label = TRANSFER_TARGETS.get(target)
    if target == "96128" and ctx.ticket.region_code.startswith("5300"):
        label = None  # a provincial matter is 96128's own
    if label is None and target.startswith("12345-"):
        line = await ctx.db.scalar(select(HotlineLine).where(HotlineLine.code == target))
        if line is not None and line.region_code[:4] != ctx.ticket.region_code[:4]:
            label = line.name
    if label is None:
        raise WorkflowError("转办对象须为 96128、12315、12331 或其他州市的 12345 热线",
                            field="target")
    return Outcome(_join(f"转办至{label}", ctx.note))


async def _sign(ctx: StepContext) -> Outcome:
    assignment = await _current_assignment(ctx)
    assignment.signed_at = ctx.now
    late = "逾期签收" if ctx.now > assignment.sign_due_at else ""
    return Outcome(_join("签收", late, ctx.note))


async def _reply(ctx: StepContext) -> Outcome:
    text = ctx.required_note("答复内容")
    assignment = await _current_assignment(ctx)
    assignment.replied_at = ctx.now
    assignment.first_replied_at = assignment.first_replied_at or ctx.now
    assignment.reply_count += 1
    return Outcome(text)


async def _request_extension(ctx: StepContext) -> Outcome:
    try:
        days = int(ctx.params.get("days"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise WorkflowError(f"延期天数须为 1–{MAX_EXTENSION_DAYS} 个工作日", field="days")
    reason = ctx.required_note("延期理由")
    pending = await ctx.db.scalar(select(TicketExtension.id).where(
        TicketExtension.ticket_id == ctx.ticket.id,
        TicketExtension.status == ExtensionStatus.PENDING))
    if pending is not None:
        raise WorkflowError("已有待审批的延期申请", field="days")
    assignment = await _current_assignment(ctx)
    ctx.db.add(TicketExtension(ticket_id=ctx.ticket.id, assignment_id=assignment.id, days=days,
                               reason=reason, requested_by=ctx.actor.name,
                               requested_at=ctx.now))
    return Outcome(_join(f"申请延期 {days} 个工作日", reason))


async def _decide_extension(ctx: StepContext) -> Outcome:
    grant = ctx.params.get("grant")
    if not isinstance(grant, bool):
        raise WorkflowError("请选择同意或不同意延期", field="grant")
    extension = await ctx.db.scalar(select(TicketExtension).where(
        TicketExtension.ticket_id == ctx.ticket.id,
        TicketExtension.status == ExtensionStatus.PENDING))
    if extension is None:
        raise WorkflowError("没有待审批的延期申请", field="grant")
    extension.status = ExtensionStatus.GRANTED if grant else ExtensionStatus.REFUSED
    extension.decided_by, extension.decided_at = ctx.actor.name, ctx.now
    if not grant:
        return Outcome(_join("不同意延期", ctx.note))
    assignment = await ctx.db.get(TicketAssignment, extension.assignment_id)
    assert assignment is not None
    assignment.due_at = ctx.due(extension.days, start=assignment.due_at)
    ctx.ticket.due_at = assignment.due_at
    return Outcome(_join(f"同意延期 {extension.days} 个工作日", ctx.note))


async def _return(ctx: StepContext) -> Outcome:
    reason = ctx.required_note("退单理由")
    assignment = await _current_assignment(ctx)
    assignment.returned_at, assignment.return_reason = ctx.now, reason
    ctx.ticket.department_id = None  # back to the hotline: a supervisor re-dispatches (改派)
    return Outcome(_join("退单", reason))


async def _send_back(ctx: StepContext) -> Outcome:
    reason = ctx.required_note("退回理由")
    assignment = await _current_assignment(ctx)
    assignment.sent_back_count += 1
    return Outcome(_join("审核不通过，退回重办", reason))


async def _approve(ctx: StepContext) -> Outcome:
    return Outcome(_join("审核通过，待回访", ctx.note))


async def _follow_up(ctx: StepContext) -> Outcome:
    try:
        satisfaction = SurveySatisfaction(ctx.params.get("satisfaction"))
    except ValueError:
        raise WorkflowError("满意度须为 satisfied / basically / dissatisfied",
                            field="satisfaction") from None
    solved = ctx.params.get("solved")
    if not isinstance(solved, bool):
        raise WorkflowError("请填写问题是否解决", field="solved")
    ctx.db.add(TicketSurvey(ticket_id=ctx.ticket.id, department_id=ctx.ticket.department_id,
                            at=ctx.now, actor=ctx.actor.name, satisfaction=satisfaction,
                            solved=solved, note=ctx.note))
    answers = f"回访：{SATISFACTION_LABELS[satisfaction]}，{'已解决' if solved else '未解决'}"
    reopen = (satisfaction == SurveySatisfaction.DISSATISFIED
              and ctx.options.reopen_on_dissatisfied and ctx.ticket.department_id is not None)
    if reopen:
        ctx.params["department_id"] = ctx.ticket.department_id
        return Outcome(_join(answers, "不满意，重新交办", await _assign(ctx, reopened=True),
                             ctx.note), status=S.DISPATCHED)
    ctx.ticket.closed_at = ctx.now
    return Outcome(_join(answers, "办结", ctx.note), status=S.CLOSED)


async def _close(ctx: StepContext) -> Outcome:
    ctx.ticket.closed_at = ctx.now
    return Outcome(_join("办结", ctx.required_note("办结说明")))


async def _merge(ctx: StepContext) -> Outcome:
    into = ctx.params.get("into")
    if into is None or str(into) in (str(ctx.ticket.id), ctx.ticket.number):
        raise WorkflowError("请指定另一张工单作为并单目标", field="into")
    try:
        target = await get_ticket(ctx.db, into, ctx.actor)  # one out of scope: "不存在" too
    except TicketNotFound:
        raise WorkflowError(f"工单 {into} 不存在", field="into") from None
    if target.status in TERMINAL:
        raise WorkflowError("并单目标须为您权限范围内未办结的工单", field="into")
    db, source = ctx.db, ctx.ticket
    linked = set((await db.scalars(select(TicketCall.call_id)
                                   .where(TicketCall.ticket_id == target.id))).all())
    for call_id in (await db.scalars(select(TicketCall.call_id)
                                     .where(TicketCall.ticket_id == source.id))).all():
        if call_id not in linked:
            db.add(TicketCall(ticket_id=target.id, call_id=call_id))
    db.add(TicketMerge(source_ticket_id=source.id, target_ticket_id=target.id,
                       merged_at=ctx.now, actor=ctx.actor.name))
    target.updated_at = ctx.now
    db.add(TicketEvent(ticket_id=target.id, at=ctx.now, actor_id=ctx.actor.user_id,
                       actor=ctx.actor.name, action="merge_in", from_status=target.status,
                       to_status=target.status, note=_join(f"工单 {source.number} 并入", ctx.note)))
    return Outcome(_join(f"并入工单 {target.number}", ctx.note))


_RUNNERS: dict[Action, Callable[[StepContext], Awaitable[Outcome]]] = {
    Action.ACCEPT: _accept, Action.REJECT: _reject, Action.ANSWER: _answer,
    Action.DISPATCH: _dispatch, Action.TRANSFER: _transfer, Action.SIGN: _sign,
    Action.REPLY: _reply, Action.REQUEST_EXTENSION: _request_extension,
    Action.DECIDE_EXTENSION: _decide_extension, Action.RETURN: _return,
    Action.REDISPATCH: _dispatch, Action.APPROVE: _approve, Action.SEND_BACK: _send_back,
    Action.FOLLOW_UP: _follow_up, Action.CLOSE: _close, Action.MERGE: _merge,
}


async def run(action: Action, ctx: StepContext) -> Outcome:
    return await _RUNNERS[action](ctx)
