"""The agent desk and the supervisor wallboard in a real Chromium (Debian's, through Playwright),
against the app served for real on loopback and the AMI stand-in as its Asterisk node
(hotline.testing.ami_server; its events are those of ../shared/asterisk-22/transcripts
ami-queue-call and ami-actions). An agent logs in through the form and goes ready (QueueAdd
reaches the stand-in); a caller with a history queues (the wallboard shows them waiting) and
is connected to the agent (the desk pops the IVR's transcript, earlier calls and tickets); a
supervisor listens (Originate into hotline-spy); the agent files the pre-filled ticket; the
call ends (wrap-up on both screens, the wallboard's counters move).

Screenshots of both pages are kept as artefacts: in $HOTLINE_TEST_ARTEFACTS if set, else in
the test's tmp_path."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, expect
from sqlalchemy import select

from hotline.agents import profiles
from hotline.auth.services import create_user
from hotline.calls.services import CallStart, record_call_start
from hotline.db.base import utcnow
from hotline.db.models import (
    Call,
    CallbackKind,
    CallbackTask,
    CallOutcome,
    Role,
    Ticket,
    TicketCall,
    TicketChannel,
    TicketStatus,
)
from hotline.web.app import create_app
from hotline.web.keys import AMI, BUS, DB

from conftest import PASSWORD, hotline_standin, standin_settings

CALLER = "13987654321"
UNIQUEID = "1800000100.3"
EARLIER_TICKET = "5301-20261118-0042"
WAIT = 10_000  # ms, for each expectation


@pytest.fixture
async def served(tmp_path: Path, sqlite_template: Path) -> Any:
    """(base URL, app, stand-in): the app on a real loopback port, pbx1 = the stand-in."""
    database = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, database)
    async with hotline_standin() as standin:
        settings = standin_settings(tmp_path, f"sqlite+aiosqlite:///{database}", standin.port,
                                    HOTLINE_AGENTS_WRAP_UP_SECONDS="600")
        app = create_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        bind = settings.web.bind
        await web.TCPSite(runner, bind.host, bind.port).start()
        try:
            await until(lambda: app[AMI].nodes[0].state == "connected")
            await seed(app)
            yield f"http://{bind.host}:{bind.port}", app, standin
        finally:
            await runner.cleanup()


async def seed(app: web.Application) -> None:
    async with app[DB]() as db:
        agent = await create_user(db, username="wangfang", display_name="王芳",
                                  role=Role.AGENT, password=PASSWORD)
        await profiles.save_profile(db, agent, extension="8201", queues={"hl-12345-5301": 0})
        boss = await create_user(db, username="banzhang", display_name="李班长",
                                 role=Role.SUPERVISOR, password=PASSWORD)
        await profiles.save_profile(db, boss, extension="8901")
        earlier = await record_call_start(db, CallStart(
            "pbx1", "1700000200.1", "1700000200.1", CALLER, line_code="12345-5301",
            started_at=utcnow() - timedelta(days=2)))
        row = await db.get(Call, earlier)
        row.outcome, row.category = CallOutcome.ANSWERED, "供水"
        db.add(Ticket(number=EARLIER_TICKET, channel=TicketChannel.PHONE, category="投诉",
                      region_code="530100", status=TicketStatus.IN_PROGRESS,
                      title="小区停水三天无人管", contact_number=CALLER))
        await db.commit()
        # A caller who gave up yesterday after waiting: hotline.queue owes them a callback.
        db.add(CallbackTask(kind=CallbackKind.ABANDONED, number="13600001111",
                            queue="hl-12345-5301", line_id=row.line_id))
        await db.commit()
        # The call the IVR wrote when this caller rang (hotline.ivr fills these fields).
        now_id = await record_call_start(db, CallStart(
            "pbx1", UNIQUEID, UNIQUEID, CALLER, line_code="12345-5301", region_code="530100"))
        row = await db.get(Call, now_id)
        row.transcript, row.category, row.ivr_choice = "我们小区又停水了，已经两天", "求助投诉", "2"
        await db.commit()


async def log_in(page: Page, base: str, path: str, username: str) -> None:
    await page.goto(base + path)
    await expect(page).to_have_url(f"{base}/login?next={path}", timeout=WAIT)
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(base + path, timeout=WAIT)


async def until(predicate: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)


def artefacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HOTLINE_TEST_ARTEFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_a_call_from_queue_to_ticket_on_the_desk_and_the_wallboard(
        served, chromium, tmp_path):
    base, app, standin = served
    size = {"width": 1280, "height": 1000}
    desk = await (await chromium.new_context(locale="zh-CN", viewport=size)).new_page()
    board = await (await chromium.new_context(locale="zh-CN", viewport=size)).new_page()
    await log_in(desk, base, "/desk", "wangfang")
    await log_in(board, base, "/wallboard", "banzhang")

    # Both see the callbacks owed (GET /api/callbacks of hotline.queue).
    for page in (desk, board):
        await expect(page.locator("#callbacks")).to_contain_text("13600001111", timeout=WAIT)
        await expect(page.locator("#callbacks")).to_contain_text("放弃来电")

    # The agent goes ready: QueueAdd for their softphone reaches Asterisk.
    await expect(desk.locator("#state-label")).to_have_text("未登录", timeout=WAIT)
    await desk.click("#btn-ready")
    await expect(desk.locator("#state-label")).to_have_text("空闲", timeout=WAIT)
    added = standin.actions_named("QueueAdd")
    assert [(a["Queue"], a["Interface"]) for a in added] == [("hl-12345-5301",
                                                              "PJSIP/agent8201")]
    agent_row = board.locator("#agents tr", has_text="王芳")
    await expect(agent_row.locator(".state")).to_have_text("空闲", timeout=WAIT)
    # A new caller's estimated wait (hotline.queue.estimate): a member free, nobody waiting.
    estimate = board.locator("#queues tr[data-queue='hl-12345-5301'] .estimated-wait")
    await expect(estimate).to_have_text("0:00", timeout=WAIT)

    # An emergency transfer by the IVR (its "alerts" event) reaches the supervisor at once.
    app[BUS].publish("alerts", {"type": "emergency", "service": "119", "caller": "13700001111",
                                "line": "12345-5301", "transcript": "着火了"})
    await expect(board.locator("#alerts .alert-emergency")).to_contain_text(
        "紧急转接 119：来电 13700001111", timeout=WAIT)

    # A caller queues: the wallboard shows them waiting.
    call = standin.queued_call(caller_num=CALLER, queue="hl-12345-5301", uniqueid=UNIQUEID)
    await expect(board.locator("#callers")).to_contain_text(CALLER, timeout=WAIT)
    await expect(board.locator("#queues tr[data-queue='hl-12345-5301'] .waiting")).to_have_text(
        "1", timeout=WAIT)
    # One waiting, one staffed, no call handled yet today (default 180 s): 180 × 2 / 1 = 6:00.
    await expect(estimate).to_have_text("6:00", timeout=WAIT)

    # The agent answers: the desk pops the caller's history, the wallboard follows.
    standin.agent_connect(call, interface="PJSIP/agent8201")
    await expect(desk.locator("#state-label")).to_have_text("通话中", timeout=WAIT)
    await expect(desk.locator("#pop-number")).to_have_text(CALLER, timeout=WAIT)
    await expect(desk.locator("#pop-transcript")).to_have_text("我们小区又停水了，已经两天")
    await expect(desk.locator("#pop-category")).to_have_text("求助投诉")
    await expect(desk.locator("#pop-region")).to_have_text("昆明市")
    await expect(desk.locator("#pop-tickets")).to_contain_text(EARLIER_TICKET)
    await expect(desk.locator("#pop-tickets")).to_contain_text("小区停水三天无人管")
    await expect(desk.locator("#pop-calls tbody tr")).to_have_count(1)
    await expect(desk.locator("#pop-calls")).to_contain_text("供水")
    await expect(agent_row.locator(".state")).to_have_text("通话中", timeout=WAIT)
    await expect(agent_row).to_contain_text(CALLER)
    await expect(board.locator("#callers")).not_to_contain_text(CALLER, timeout=WAIT)
    await desk.screenshot(path=str(artefacts(tmp_path) / "desk.png"), full_page=True)

    # The supervisor listens in: an Originate to their softphone running ChanSpy.
    await agent_row.locator("button.spy-listen").click()
    await expect(board.locator("#wall-message")).to_contain_text("监听：王芳", timeout=WAIT)
    spy = standin.actions_named("Originate")[-1]
    assert (spy["Channel"], spy["Context"], spy["Exten"]) == ("PJSIP/agent8901", "hotline-spy",
                                                              "listen")
    assert spy.getall("Variable") == ["HOTLINE_SPY_TARGET=agent8201"]

    # The agent files the pre-filled ticket.
    form = desk.locator("#ticket-form")
    await expect(form.locator("input[name=contact_number]")).to_have_value(CALLER)
    await expect(form.locator("textarea[name=content]")).to_have_value("我们小区又停水了，已经两天")
    await expect(form.locator("select[name=region_code]")).to_have_value("530100")
    await form.locator("input[name=title]").fill("小区再次停水")
    await form.locator("#btn-file").click()
    await expect(desk.locator("#ticket-result")).to_contain_text("工单已提交：5301-",
                                                                 timeout=WAIT)
    async with app[DB]() as db:
        ticket = await db.scalar(select(Ticket).where(Ticket.title == "小区再次停水"))
        call_row = await db.scalar(select(Call).where(Call.uniqueid == UNIQUEID))
        linked = await db.scalar(select(TicketCall.call_id).where(
            TicketCall.ticket_id == ticket.id))
    assert ticket.contact_number == CALLER and linked == call_row.id

    # The call ends: wrap-up on both screens, and today's counters on the wallboard.
    standin.agent_complete(call)
    await expect(desk.locator("#state-label")).to_have_text("话后处理", timeout=WAIT)
    await expect(agent_row.locator(".state")).to_have_text("话后处理", timeout=WAIT)
    queue_row = board.locator("#queues tr[data-queue='hl-12345-5301']")
    await expect(queue_row.locator(".offered")).to_have_text("1", timeout=WAIT)
    await expect(queue_row).to_contain_text("100.0%", timeout=WAIT)  # answered / offered
    await board.screenshot(path=str(artefacts(tmp_path) / "wallboard.png"), full_page=True)

    await desk.click("#btn-wrap-up")
    await expect(desk.locator("#state-label")).to_have_text("空闲", timeout=WAIT)
    await until(lambda: standin.actions_named("QueuePause")[-1]["Paused"] == "false")
