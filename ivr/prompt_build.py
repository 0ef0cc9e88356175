"""`hotline prompts build`: the prompts of `hotline.ivr.prompts` as Asterisk sound files.

For each prompt, espeak-ng (voice `cmn`) speaks the Mandarin text and sox turns it into 8 kHz mono
16-bit signed PCM at `<out>/zh/hotline/<name>.wav`, several at a time (asyncio subprocesses, at
most one per CPU by default). `.generated.json` beside the files records the hash and text of what
was made: a file whose content differs from it, or that is there without having been made, is an
operator's studio recording and is never overwritten.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hotline.ivr.prompts import PromptError, Prompts, default_prompts

__all__ = ["BuildReport", "ToolMissing", "build"]

LANGUAGE_DIR = Path("zh") / "hotline"
MANIFEST = ".generated.json"
VOICE = "cmn"
RATE = 8000
TOOL_TIMEOUT = 60.0


class ToolMissing(PromptError):
    """espeak-ng or sox is not installed."""


@dataclass
class BuildReport:
    folder: Path
    made: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # replaced by an operator: not overwritten
    failed: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"made {self.folder / n}.wav" for n in self.made]
        out += [f"kept {self.folder / n}.wav (an operator's recording: not overwritten)"
                for n in self.kept]
        out += [f"FAILED {n}: {why}" for n, why in self.failed.items()]
        out.append(f"{self.folder}: {len(self.made)} made, {len(self.unchanged)} unchanged, "
                   f"{len(self.kept)} kept, {len(self.failed)} failed")
        return out


def _tools() -> tuple[str, str]:
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    missing = [name for name, path in (("espeak-ng", espeak), ("sox", sox)) if path is None]
    if missing or espeak is None or sox is None:
        raise ToolMissing(f"{' and '.join(missing)} not found: install the Debian packages "
                          f"espeak-ng and sox (apt-get install espeak-ng sox)")
    return espeak, sox


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise PromptError(f"{path}: unreadable manifest ({exc}); move it away to rebuild "
                          f"(files not listed in it are then kept as operators' recordings)"
                          ) from None
    return data if isinstance(data, dict) else {}


def _write_manifest(path: Path, entries: Mapping[str, Mapping[str, str]]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(entries, ensure_ascii=False, indent=1, sort_keys=True),
                         encoding="utf-8")
    temporary.replace(path)


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(TOOL_TIMEOUT):
            _, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise PromptError(f"{Path(command[0]).name} took more than {TOOL_TIMEOUT:g} s") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        raise PromptError(f"{Path(command[0]).name} failed ({process.returncode}): "
                          f"{message[-1] if message else 'no message'}")


async def _speak(tools: tuple[str, str], text: str, target: Path) -> None:
    espeak, sox = tools
    raw = target.with_name(f".{target.stem}.espeak.wav")
    made = target.with_name(f".{target.stem}.new.wav")
    try:
        await _run(espeak, "-v", VOICE, "-w", str(raw), "--", text)
        # Peak-normalised to -3 dBFS so the downsampling never clips, then 8 kHz mono 16-bit.
        await _run(sox, "-q", str(raw), "-r", str(RATE), "-c", "1", "-b", "16",
                   "-e", "signed-integer", str(made), "gain", "-n", "-3")
        made.replace(target)
    finally:
        raw.unlink(missing_ok=True)
        made.unlink(missing_ok=True)


async def build(out_dir: Path, only: Iterable[str] | None = None, *,
                prompts: Prompts | None = None, concurrency: int | None = None) -> BuildReport:
    """Write `<out_dir>/zh/hotline/<name>.wav` for every prompt (or those in `only`).

    A file whose content is not what the last build wrote (per the manifest), or that exists
    without having been built, is an operator's recording and is kept. A prompt whose text has
    not changed since it was built is not made again. Raises `ToolMissing` without espeak-ng or
    sox, `PromptError` for an unknown name in `only`.
    """
    prompts = prompts or await asyncio.to_thread(default_prompts)
    names = list(prompts.texts)
    if only is not None:
        wanted = list(dict.fromkeys(only))
        unknown = [n for n in wanted if n not in prompts.texts]
        if unknown:
            raise PromptError(f"no prompt named {', '.join(map(repr, unknown))} in "
                              f"{prompts.source}")
        names = wanted
    tools = _tools()
    folder = Path(out_dir) / LANGUAGE_DIR
    manifest_path = folder / MANIFEST
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    manifest = await asyncio.to_thread(_read_manifest, manifest_path)
    report = BuildReport(folder)
    bound = asyncio.Semaphore(concurrency or max(os.cpu_count() or 1, 1))

    async def one(name: str) -> None:
        target = folder / f"{name}.wav"
        text = prompts.texts[name]
        built = manifest.get(name)
        on_disk = await asyncio.to_thread(_digest, target)
        if on_disk is not None and (built is None or built.get("sha256") != on_disk):
            report.kept.append(name)
            return
        if on_disk is not None and built is not None and built.get("text") == text:
            report.unchanged.append(name)
            return
        async with bound:
            try:
                await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
                await _speak(tools, text, target)
            except (PromptError, OSError) as exc:
                report.failed[name] = str(exc)
                return
        digest = await asyncio.to_thread(_digest, target)
        manifest[name] = {"sha256": digest or "", "text": text}
        report.made.append(name)

    try:
        await asyncio.gather(*(one(name) for name in names))
    finally:
        # Written even after a failure, so what was made is not mistaken for an operator's.
        await asyncio.to_thread(_write_manifest, manifest_path, manifest)
    for names_list in (report.made, report.unchanged, report.kept):
        names_list.sort()
    return report
