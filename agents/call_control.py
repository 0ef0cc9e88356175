"""Transfers from the desk and supervisors' listen / whisper / barge, as the dialplan contract
(dialplans/README.md, "Originates and redirects") defines them:

- to another queue or to 96128: `Setvar HOTLINE_QUEUE` on the caller's channel, then
  `Redirect` it to `hotline-queue,s,1` (a blind transfer: the agent's leg ends);
- to 110/119/120/122, attended: `Atxfer` of the agent's channel to `<number>@hotline-agents`
  (the softphones' context, whose 110/119/120/122 go to [hotline-emergency] "for three-way
  emergency transfers"). Asterisk holds the caller and rings the emergency centre from the
  agent's leg; the agent briefs the centre, then hangs up to hand the caller over, or uses the
  attended-transfer feature codes of features.conf (atxferthreeway) for a three-way call.
- listen / whisper / barge: `Originate` of the supervisor's softphone into
  `hotline-spy,<listen|whisper|barge>,1` with `HOTLINE_SPY_TARGET=agent<extension>`; the
  dialplan runs ChanSpy with `qbES` (+`w` whisper, +`B` barge).

None of Setvar-then-Redirect on a queued call, Atxfer, nor ChanSpy is in the captures of
../shared/asterisk-22 (assumed, not captured; the fields are those of Asterisk 22's AMI
documentation: Atxfer takes Channel, Exten, Context): the tests check the actions sent; what
Asterisk then does needs a real Asterisk 22 to verify. An attended transfer is a bridge
feature: the agent's side of the queue call must be allowed to transfer (Queue() option `t`,
which dialplans/hotline.conf does not pass today) — to be checked with a real Asterisk.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from hotline.agents.models import AgentState
from hotline.agents.services import Agent, AgentDesk, AgentError
from hotline.asterisk.ami import AmiError
from hotline.asterisk.dialplan import (
    CTX_AGENTS,
    CTX_QUEUE,
    CTX_SPY,
    EMERGENCY_NUMBERS,
    START_EXTEN,
    VAR_QUEUE,
    VAR_SPY_TARGET,
    SpyMode,
    endpoint_for,
    interface_for,
)
from hotline.db.models import HotlineLine
from hotline.regions import within

PROVINCE_LINE = "96128"
SPY_LABELS = {SpyMode.LISTEN: "监听", SpyMode.WHISPER: "耳语", SpyMode.BARGE: "强插"}


def _on_call(agent: Agent) -> None:
    if agent.status.state is not AgentState.ON_CALL or agent.call is None:
        raise AgentError("当前没有通话，无法转接", 409)


async def transfer(desk: AgentDesk, user_id: int, target: str) -> str:
    """Transfer the agent's caller; the answer says what was done (zh-CN)."""
    agent = await desk.agent(user_id)
    _on_call(agent)
    call = agent.call
    assert call is not None
    if target in EMERGENCY_NUMBERS:
        if not call.agent_channel:
            raise AgentError("不知道您的通话通道，无法三方转接", 409)
        await desk.ami(agent, {"Action": "Atxfer", "Channel": call.agent_channel,
                               "Exten": target, "Context": CTX_AGENTS})
        return f"正在呼叫 {target}，接通后说明情况，挂机即转接给来电人"
    async with desk.db() as db:
        lines = (await db.scalars(select(HotlineLine).where(HotlineLine.active.is_(True)))).all()
    by_code = {line.code: line for line in lines}
    line = by_code.get(target) or next((x for x in lines if x.queue == target), None)
    if line is None:
        raise AgentError(f"没有这个转接目标：{target}")
    if line.queue == call.queue:
        raise AgentError("来电已在该队列中")
    await desk.ami(agent, {"Action": "Setvar", "Channel": call.channel, "Variable": VAR_QUEUE,
                           "Value": line.queue})
    await desk.ami(agent, {"Action": "Redirect", "Channel": call.channel, "Context": CTX_QUEUE,
                           "Exten": START_EXTEN, "Priority": 1})
    return f"已转接至 {line.name}"


async def spy(desk: AgentDesk, supervisor_id: int, agent_id: int, mode: str,
              scope: str | None = None) -> str:
    """`scope`: the supervisor's region; agents outside it cannot be listened to."""
    try:
        spy_mode = SpyMode(mode)
    except ValueError:
        raise AgentError("监听方式须为 listen、whisper 或 barge") from None
    supervisor = await desk.agent(supervisor_id)
    agent = desk.agents.get(agent_id)
    if agent is None or not within(agent.region_code, scope):
        raise AgentError("没有这个话务员，或不在您的管辖范围", 404)
    if agent.status.state is not AgentState.ON_CALL:
        raise AgentError(f"{agent.name} 当前没有通话", 409)
    node = desk.node_for(agent)
    label = SPY_LABELS[spy_mode]
    try:
        result = await node.originate(
            interface_for(supervisor.profile.extension), channel_id=str(uuid.uuid4()),
            context=CTX_SPY, exten=spy_mode.value, priority=1,
            caller_id=f'"{label}" <{agent.profile.extension}>',
            variables={VAR_SPY_TARGET: endpoint_for(agent.profile.extension)},
            reply_within=45.0)
    except AmiError as exc:
        raise AgentError(f"无法呼叫您的软电话：{exc}", 502) from exc
    if not result.success:
        raise AgentError("您的软电话没有接听（请确认已注册并接听来电）", 502)
    return f"{label}：{agent.name}（分机 {agent.profile.extension}）"
