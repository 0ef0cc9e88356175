"""The `hotline` command (also `python -m hotline`).

Exit status: 0 done, 1 the command failed (message on stderr), 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hotline.config import ConfigError, Settings, load_settings
from hotline.db.engine import describe
from hotline.db.models import Role
from hotline.logs import setup_logging
from hotline.version import VERSION

EXIT_FAILED = 1
EXIT_CONFIG = 2


class CommandFailed(Exception):
    """A command could not do its job; the message says why."""

    exit_code = EXIT_FAILED


class CommandUnusable(CommandFailed):
    """The command cannot run here (a missing tool); exit status 2."""

    exit_code = EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline", description="Yunnan 96128/12345 government hotline controller."
    )
    parser.add_argument("--version", action="version", version=f"hotline {VERSION}")
    parser.add_argument("--config", metavar="FILE",
                        help="configuration file (default: ./hotline.toml if it exists; "
                             "env HOTLINE_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("serve", help="run web, FastAGI and AMI (the database must be migrated)")
    commands.add_parser("run", help="migrate the database, then serve (the quick-start command)")

    config = commands.add_parser("config", help="configuration").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    config.add_parser("check", help="validate and print the effective configuration")

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    up = db.add_parser("upgrade", help="migrate to the latest schema and load reference data")
    up.add_argument("revision", nargs="?", default="head")
    down = db.add_parser("downgrade", help="migrate back to REVISION (base: empty)")
    down.add_argument("revision")
    db.add_parser("current", help="print the schema revision")

    sim = commands.add_parser(
        "simulate", help="a SIMULATION: stand-ins for Asterisk place calls into a running serve")
    sim.add_argument("--calls", type=int, default=20, help="calls to place (default 20)")
    sim.add_argument("--rate", type=float, default=5.0, help="new calls per second (default 5)")
    sim.add_argument("--agents", type=int, default=5, help="simulated agents (default 5)")
    sim.add_argument("--node", default=None,
                     help="the [[asterisk]] node to stand in for (default: the first)")

    user = commands.add_parser("user", help="staff accounts").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = user.add_parser("create", help="create an account; prints its generated password")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", default="", help="display name")
    create.add_argument("--region", default=None, help="GB/T 2260 code of the region scope")
    create.add_argument("--department", type=int, default=None, help="department id (handlers)")
    reset = user.add_parser("reset-password", help="set a new generated password and print it")
    reset.add_argument("username")

    asterisk = commands.add_parser("asterisk", help="Asterisk configuration").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    render = asterisk.add_parser(
        "render", help="write softphone endpoints, queues and the DID mapping from the database")
    render.add_argument("--out", metavar="DIR", default=None,
                        help="output folder (default: <data_dir>/asterisk; on the PBX "
                             "/etc/asterisk/hotline-rendered)")
    render.add_argument("--defaults", action="store_true",
                        help="render lines.csv with no softphones, without the database (the "
                             "files shipped in asterisk-conf/hotline-rendered)")

    prompts = commands.add_parser("prompts", help="IVR prompts").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    build = prompts.add_parser("build", help="make the prompts' WAV files (espeak-ng, sox)")
    build.add_argument("--out", metavar="DIR", default=None,
                       help="Asterisk sound folder (default: [prompts] dir, <data_dir>/sounds); "
                            "files go to DIR/zh/hotline/")
    build.add_argument("--only", metavar="NAME", nargs="+", help="only these prompts")
    speech = commands.add_parser("speech", help="speech recognition").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    check = speech.add_parser("check", help="print what the configured model hears in a WAV")
    check.add_argument("file", metavar="FILE.wav")
    return parser



async def _cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.server import serve

    await serve(settings, run_migrations=args.command == "run")


async def _cmd_config(settings: Settings, args: argparse.Namespace) -> None:
    # model_dump_json masks SecretStr values as '**********'; the database URL is a plain
    # string, so its password is masked here.
    shown = settings
    if settings.database.url:
        url = make_url(settings.database.url).render_as_string(hide_password=True)
        shown = settings.model_copy(
            update={"database": settings.database.model_copy(update={"url": url})})
    print(shown.model_dump_json(indent=2))


async def _cmd_db(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.db import migrate
    from hotline.db.engine import create_engine, describe

    if args.action == "upgrade":
        from hotline.server import migrate as migrate_and_load

        if args.revision == "head":
            await migrate_and_load(settings)
            print(f"{describe(settings.database_url)}: at {migrate.head_revision()} (head)")
            return
    engine = create_engine(settings.database_url)
    try:
        if args.action == "upgrade":
            await migrate.upgrade(engine, args.revision)
        elif args.action == "downgrade":
            await migrate.downgrade(engine, args.revision)
        current = await migrate.current_revision(engine)
        print(f"{describe(settings.database_url)}: at {current or 'base (no schema)'}"
              f" (head is {migrate.head_revision()})")
    finally:
        await engine.dispose()


async def _cmd_user(settings: Settings, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from hotline.auth.passwords import generate_password
    from hotline.auth.services import UserError, create_user, set_password
    from hotline.db.engine import create_engine, session_maker
    from hotline.db.migrate import require_head
    from hotline.db.models import User

    engine = create_engine(settings.database_url)
    try:
        await require_head(engine)
        password = generate_password()
        async with session_maker(engine)() as db:
            try:
                if args.action == "create":
                    await create_user(db, username=args.username, display_name=args.name,
                                      role=Role(args.role), password=password,
                                      region_code=args.region, department_id=args.department)
                else:
                    user = await db.scalar(select(User).where(User.username == args.username))
                    if user is None:
                        raise CommandFailed(f"no user named {args.username!r}")
                    await set_password(db, user, password)
            except UserError as exc:
                raise CommandFailed(f"{exc.field}: {exc}") from None
    finally:
        await engine.dispose()
    print(f"user {args.username}: password {password}")


async def _cmd_asterisk(settings: Settings, args: argparse.Namespace) -> None:
    from pathlib import Path

    from hotline.asterisk.render import RenderError, render_defaults, render_from_database
    from hotline.db.engine import create_engine, session_maker
    from hotline.db.migrate import require_head

    out = Path(args.out) if args.out else settings.data_dir / "asterisk"
    try:
        if args.defaults:
            result = render_defaults(out)
        else:
            engine = create_engine(settings.database_url)
            try:
                await require_head(engine)
                async with session_maker(engine)() as db:
                    result = await render_from_database(db, out)
            finally:
                await engine.dispose()
    except RenderError as exc:
        raise CommandFailed(str(exc)) from None
    print(result.summary())


async def _cmd_prompts(settings: Settings, args: argparse.Namespace) -> None:
    from pathlib import Path

    from hotline.ivr.prompt_build import ToolMissing
    from hotline.ivr.prompts import PromptError, build

    try:
        report = await build(Path(args.out) if args.out else settings.sounds_dir, args.only)
    except ToolMissing as exc:
        raise CommandUnusable(str(exc)) from None
    except PromptError as exc:
        raise CommandFailed(str(exc)) from None
    print("\n".join(report.lines()))
    if report.failed:
        raise CommandFailed(f"{len(report.failed)} prompt(s) could not be made")


async def _cmd_speech(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.ivr.speech import SpeechRecognizer

    recognizer = SpeechRecognizer.from_settings(settings.speech)
    try:
        await recognizer.warm_up()  # loading takes seconds: not part of the recognition's time
        result = await recognizer.recognize(args.file)
    finally:
        recognizer.close()
    print(result.report())
    if not result.ok:
        raise CommandFailed(f"{args.file}: {result.status}: {result.detail}")


async def _cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    from hotline.testing.simulate import BANNER, simulate

    if args.calls < 1 or args.rate <= 0 or args.agents < 1:
        raise CommandFailed("--calls, --rate and --agents must be positive")
    print(BANNER, flush=True)
    if not settings.asterisk:
        print("No [[asterisk]] node in the configuration: only the FastAGI side is simulated "
              "(calls enter the IVR; no queue events).", flush=True)
    try:
        report = await simulate(settings, calls=args.calls, rate=args.rate, agents=args.agents,
                                node_name=args.node)
    except LookupError as exc:
        raise CommandFailed(str(exc)) from None
    for line in report.lines():
        print(line)
    for error in report.errors[:10]:
        print(f"error: {error}", file=sys.stderr)
    if report.errors:
        raise CommandFailed(f"{len(report.errors)} problem(s) during the simulation")


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, None]]] = {
    "serve": _cmd_serve,
    "run": _cmd_serve,
    "config": _cmd_config,
    "db": _cmd_db,
    "user": _cmd_user,
    "asterisk": _cmd_asterisk,
    "simulate": _cmd_simulate,
    "prompts": _cmd_prompts,
    "speech": _cmd_speech,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"hotline: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.log_level)
    from hotline.db.migrate import NotMigratedError

    try:
        asyncio.run(COMMANDS[args.command](settings, args))
    except (CommandFailed, NotMigratedError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_FAILED)
    except DBAPIError as exc:
        # The driver's own message (never the URL, which may hold a password).
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        print(f"hotline: database {describe(settings.database_url)}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    return 0
