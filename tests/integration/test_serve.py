"""The real `hotline` command in a subprocess: `run` migrates an empty database, prints the
generated admin password once, serves /healthz, the password logs in, SIGTERM stops it in time;
`serve` refuses an un-migrated database."""

import asyncio
import re
import signal
import sys
import time

import aiohttp

from pg import free_port

STARTUP_LIMIT = 60
SHUTDOWN_LIMIT = 5.0


def _write_config(tmp_path, database_url):
    web, agi = free_port(), free_port()
    config = tmp_path / "hotline.toml"
    config.write_text(
        f'data_dir = "var"\n[database]\nurl = "{database_url}"\n'
        f'[web]\nbind = "127.0.0.1:{web}"\n[fastagi]\nbind = "127.0.0.1:{agi}"\n'
    )
    return config, web


async def _start(config, command):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline", "--config", str(config), command,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _wait_healthy(http, port):
    async with asyncio.timeout(STARTUP_LIMIT):
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return await response.json()
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)


async def _log_in(http, port, password):
    base = f"http://127.0.0.1:{port}"
    async with http.get(f"{base}/login") as page:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    async with http.post(f"{base}/login", allow_redirects=False, data={
            "username": "admin", "password": password, "csrf_token": token}) as response:
        status = response.status
    async with http.get(f"{base}/api/me") as me:
        return status, me.status, (await me.json()) if me.status == 200 else None


async def test_run_migrates_prints_admin_password_and_stops_on_sigterm(tmp_path, empty_db_url):
    config, port = _write_config(tmp_path, empty_db_url)
    process = await _start(config, "run")
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            health = await _wait_healthy(http, port)
            assert health["database"] == {"ok": True} and health["fastagi"]["listening"]
            banner = b""
            async with asyncio.timeout(10):
                while b"Password (shown only now):" not in banner:
                    banner += await process.stdout.readline()
            password = re.search(rb"Password \(shown only now\): (\S+)", banner).group(1).decode()

            wrong = await _log_in(http, port, password + "x")
            assert wrong[:2] == (401, 401)
            right = await _log_in(http, port, password)
            assert right[:2] == (303, 200) and right[2]["username"] == "admin"

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(SHUTDOWN_LIMIT + 1):
            code = await process.wait()
        assert code == 0
        assert time.monotonic() - started < SHUTDOWN_LIMIT
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert password not in stderr  # never in the log
    assert "stopped" in stderr

    # A second run on the same database: no new password, the first one still works.
    process = await _start(config, "run")
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _wait_healthy(http, port)
            assert (await _log_in(http, port, password))[:2] == (303, 200)
        process.send_signal(signal.SIGTERM)
        out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert b"Password" not in out


async def test_serve_refuses_an_unmigrated_database(tmp_path, empty_db_url):
    config, _ = _write_config(tmp_path, empty_db_url)
    process = await _start(config, "serve")
    async with asyncio.timeout(STARTUP_LIMIT):
        out, err = await process.communicate()
    assert process.returncode == 1
    assert b"hotline db upgrade" in err and b"no schema yet" in err
    assert b"Password" not in out  # no administrator was created
