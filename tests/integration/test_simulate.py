"""`hotline simulate` against a running controller: every call lands in the database once,
and with an AMI node the queue events close each call with its outcome. The stand-ins speak
as the captures in ../shared/asterisk-22/transcripts (agi-session-normal, ami-queue-call,
ami-abandon, ami-actions-live)."""

import asyncio
import os
import re
import signal
import sys

from sqlalchemy import func, select

from hotline.config import load_settings
from hotline.db.engine import create_engine, session_maker
from hotline.db.models import Call, CallOutcome
from hotline.testing.simulate import Simulation
from hotline.web.app import create_app

from pg import free_port


def _config(tmp_path, db_url, *, node):
    text = (f'data_dir = "var"\n[database]\nurl = "{db_url}"\n'
            f'[web]\nbind = "127.0.0.1:{free_port()}"\n'
            f'[fastagi]\nbind = "127.0.0.1:{free_port()}"\n')
    if node:
        text += (f'[[asterisk]]\nname = "pbx1"\nhost = "127.0.0.1"\nport = {free_port()}\n'
                 'username = "hotline"\n')
    path = tmp_path / "hotline.toml"
    path.write_text(text)
    return path


async def test_simulated_calls_flow_through_the_controller(aiohttp_client, tmp_path, db_url):
    config = _config(tmp_path, db_url, node=True)
    settings = load_settings(config, environ={"HOTLINE_ASTERISK_PBX1_SECRET": "sim-Secret-1"})
    await aiohttp_client(create_app(settings))  # the controller: web, FastAGI, AMI
    report = await Simulation(settings, calls=20, rate=50, agents=3, node=settings.asterisk[0],
                              talk_seconds=0.05).run(connect_wait=20)
    assert report.errors == []
    assert (report.placed, report.ivr_done) == (20, 20)
    assert report.answered + report.abandoned == 20 and report.abandoned > 0

    engine = create_engine(db_url)
    try:
        async with session_maker(engine)() as db:
            async with asyncio.timeout(10):
                while await db.scalar(select(func.count()).where(Call.ended_at.is_(None))):
                    await asyncio.sleep(0.05)
                    db.expire_all()
            rows = (await db.execute(select(Call.outcome, func.count()).group_by(Call.outcome)
                                     )).all()
    finally:
        await engine.dispose()
    assert dict(rows) == {CallOutcome.ANSWERED: report.answered,
                          CallOutcome.ABANDONED: report.abandoned}


async def test_simulate_command_against_hotline_serve(tmp_path, empty_db_url):
    """The README's pair: `hotline serve` (here `run`, which migrates) and `hotline simulate
    --calls 20` as separate processes puts 20 calls in the database."""
    config = _config(tmp_path, empty_db_url, node=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    serve = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "--config", str(config), "run",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        async with asyncio.timeout(60):
            while True:  # wait for "FastAGI listening"
                line = await serve.stderr.readline()
                assert line, "hotline run ended early"
                if b"FastAGI listening" in line:
                    break
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hotline", "--config", str(config), "simulate", "--calls",
            "20", "--rate", "40", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env)
        async with asyncio.timeout(60):
            out, err = await sim.communicate()
        assert sim.returncode == 0, err.decode()
        text = out.decode()
        assert text.startswith("SIMULATION")
        assert re.search(r"calls placed:\s+20", text) and re.search(r"through the IVR:\s+20", text)
    finally:
        serve.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            await serve.wait()
    engine = create_engine(empty_db_url)
    try:
        async with session_maker(engine)() as db:
            assert await db.scalar(select(func.count()).select_from(Call)) == 20
    finally:
        await engine.dispose()
