"""Agent profiles: the softphone extension, the queues an agent joins and their skills.

Skills to penalties: an agent's QueueAdd penalty in a queue is the queue's base penalty
(`agent_queues.penalty`) plus the tier of their rarest skill
(`hotline.queue.routing.member_penalty`, `[queue.skill_penalties]`: 普通话 0, 方言 1,
English 2, 少数民族语言 3), so ordinary calls reach the agents who only speak 普通话 first and
the specialists when those are busy.
A skill's level (1 fluent … 3 basic) is shown to supervisors; only skills of level 1-2 count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.agents.models import AgentProfile, AgentQueue, AgentSkill, SkillKind
from hotline.asterisk.dialplan import extension_for, interface_for
from hotline.db.models import Role, User
from hotline.queue.routing import member_penalty
from hotline.queue.settings import QueueConfig

LANGUAGES = ("普通话", "方言", "少数民族语言", "English")
MANDARIN = "普通话"
LEVELS = (1, 2, 3)  # 1 fluent/expert, 2 good, 3 basic
COUNTED_LEVEL = 2  # a basic (level 3) skill does not route calls
SOFTPHONE_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})
# 3–8 digits, not starting with 0 or 1: those are citizens' numbers and 110/119/120/122 in the
# softphones' context (dialplans/hotline.conf [hotline-agents]).
_EXTENSION = re.compile(r"^[2-9][0-9]{2,7}$")
_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class ProfileError(ValueError):
    """Bad profile input; the message is for the administrator (zh-CN)."""


@dataclass(frozen=True)
class Skill:
    kind: SkillKind
    name: str
    level: int = 1


def interface_of(profile: AgentProfile) -> str:
    """The queue member interface: PJSIP/agent<extension>."""
    return interface_for(profile.extension)


def queue_penalty(profile: AgentProfile, queue: AgentQueue, config: QueueConfig) -> int:
    skills = [s.name for s in profile.skills if s.level <= COUNTED_LEVEL]
    return queue.penalty + member_penalty(skills, config)


async def get_profile(db: AsyncSession, user_id: int) -> AgentProfile | None:
    return await db.get(AgentProfile, user_id)


async def all_profiles(db: AsyncSession) -> list[tuple[AgentProfile, User]]:
    rows = await db.execute(
        select(AgentProfile, User).join(User, User.id == AgentProfile.user_id)
        .where(User.active.is_(True)).order_by(AgentProfile.extension))
    return [(profile, user) for profile, user in rows]


def _check(extension: str, queues: dict[str, int], skills: Iterable[Skill]) -> None:
    if not _EXTENSION.match(extension):
        raise ProfileError("分机号须为3至8位数字，且不以0或1开头")
    for name, penalty in queues.items():
        if not _QUEUE.match(name):
            raise ProfileError(f"队列名无效：{name!r}")
        if not 0 <= penalty <= 100:
            raise ProfileError(f"队列 {name} 的优先级惩罚值须在0到100之间")
    for skill in skills:
        if skill.level not in LEVELS:
            raise ProfileError(f"技能“{skill.name}”的等级须为1、2或3")
        if skill.kind == SkillKind.LANGUAGE and skill.name not in LANGUAGES:
            raise ProfileError(f"语言须为：{'、'.join(LANGUAGES)}")
        if not skill.name or len(skill.name) > 64:
            raise ProfileError("技能名称不能为空，且不超过64个字符")


async def save_profile(db: AsyncSession, user: User, *, extension: str | None = None,
                       queues: dict[str, int] | None = None,
                       skills: Iterable[Skill] = (), node: str = "") -> AgentProfile:
    """Create or replace a softphone user's profile (commits). The extension defaults to the
    one the user had before profiles existed (8000 + id), so phones keep working."""
    if user.role not in SOFTPHONE_ROLES:
        raise ProfileError("只有话务员和班长有软电话分机")
    skills = list(skills)
    extension = extension or extension_for(user.id)
    queues = dict(queues or {})
    _check(extension, queues, skills)
    taken = await db.scalar(select(AgentProfile.user_id).where(
        AgentProfile.extension == extension, AgentProfile.user_id != user.id))
    if taken is not None:
        raise ProfileError(f"分机号 {extension} 已被使用")
    profile = await db.get(AgentProfile, user.id)
    if profile is None:
        profile = AgentProfile(user_id=user.id, extension=extension, node=node)
        db.add(profile)
    profile.extension, profile.node = extension, node
    profile.queues = [AgentQueue(queue=name, penalty=p) for name, p in sorted(queues.items())]
    profile.skills = [AgentSkill(kind=s.kind, name=s.name, level=s.level) for s in skills]
    await db.commit()
    return profile
