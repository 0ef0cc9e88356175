"""`hotline asterisk render` names softphones by the agents' profiles (agent_profiles.extension):
the PJSIP endpoint, its hint and the queue interface the desk adds (PJSIP/agent<extension>)
agree; a user without a profile keeps 8000 + id; two users on one extension are refused."""

from __future__ import annotations

import pytest

from hotline.agents import profiles
from hotline.asterisk.render import RenderError, render_from_database
from hotline.db.models import Role, User


async def user(db, username, role=Role.AGENT):
    """A user row without a usable password: nobody logs in here (hashing is slow)."""
    row = User(username=username, display_name=username, role=role, password_hash="!")
    db.add(row)
    await db.commit()
    return row


async def test_endpoints_come_from_the_profiles(db, tmp_path):
    async with db() as session:
        agent = await user(session, "agent-a")
        boss = await user(session, "boss", Role.SUPERVISOR)
        plain = await user(session, "agent-b")
        profile = await profiles.save_profile(session, agent, extension="8301",
                                              queues={"hl-96128": 0})
        await profiles.save_profile(session, boss, extension="8901")
        assert profiles.interface_of(profile) == "PJSIP/agent8301"
        await render_from_database(session, tmp_path)
    agents_conf = (tmp_path / "hotline-agents.conf").read_text(encoding="utf-8")
    hints = (tmp_path / "hotline-agent-extensions.conf").read_text(encoding="utf-8")
    assert "[agent8301](hotline-agent)" in agents_conf
    assert "[agent8901](hotline-supervisor)" in agents_conf
    assert f"[agent{8000 + plain.id}](hotline-agent)" in agents_conf  # no profile yet
    assert f"agent{8000 + agent.id}]" not in agents_conf
    assert "exten => 8301,hint,PJSIP/agent8301" in hints


async def test_profiles_refuse_bad_or_taken_extensions(db):
    async with db() as session:
        first, second = await user(session, "one"), await user(session, "two")
        handler_role = await user(session, "three")
        await profiles.save_profile(session, first, extension="8401")
        for extension, words in (("8401", "已被使用"), ("110", "分机号"), ("0871", "分机号"),
                                 ("8x01", "分机号")):
            with pytest.raises(profiles.ProfileError, match=words):
                await profiles.save_profile(session, second, extension=extension)
        with pytest.raises(profiles.ProfileError, match="语言"):
            await profiles.save_profile(session, handler_role, skills=[
                profiles.Skill(profiles.SkillKind.LANGUAGE, "火星语")])


async def test_a_derived_extension_taken_by_a_profile_stops_the_render(db, tmp_path):
    async with db() as session:
        first, second = await user(session, "one"), await user(session, "two")
        await profiles.save_profile(session, first, extension=str(8000 + second.id))
        with pytest.raises(RenderError, match=f"extension {8000 + second.id}"):
            await render_from_database(session, tmp_path)
