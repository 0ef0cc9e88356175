"""`hotline prompts build`: the real espeak-ng (voice cmn) and sox make an 8 kHz mono 16-bit WAV
for every prompt in ivr/data/prompts-zh.toml, in Asterisk's sound layout (zh/hotline/<name>.wav);
an operator's recording is never overwritten."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from hotline import cli
from hotline.ivr import prompt_build
from hotline.ivr.prompt_build import MANIFEST, ToolMissing, build
from hotline.ivr.prompts import PromptError, default_prompts


def check_wav(path: Path) -> float:
    """Asserts the telephone format; returns the length in seconds."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getcomptype() == "NONE"
        frames = wav.getnframes()
        audio = wav.readframes(frames)
    assert any(audio), f"{path.name} is silent"
    return frames / 8000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, prompt_build.BuildReport]:
    out = tmp_path_factory.mktemp("sounds")
    import asyncio

    report = asyncio.run(build(out, concurrency=4))
    return out, report


def test_every_prompt_becomes_a_telephone_wav(built) -> None:
    out, report = built
    names = set(default_prompts().texts)
    assert set(report.made) == names and not report.failed and not report.kept
    folder = out / "zh" / "hotline"
    for name in names:
        seconds = check_wav(folder / f"{name}.wav")
        # A digit is a syllable; a sentence takes seconds.
        assert seconds > (0.15 if name.startswith("digits/") else 0.8), name
    assert check_wav(folder / "notice.wav") > check_wav(folder / "goodbye.wav")


async def test_a_second_build_keeps_operator_recordings(built, tmp_path: Path) -> None:
    out, _ = built
    folder = out / "zh" / "hotline"
    studio = tmp_path / "studio.wav"
    with wave.open(str(studio), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x10\x00" * 8000)
    (folder / "menu.wav").write_bytes(studio.read_bytes())  # the operator's new menu
    (folder / "goodbye.wav").unlink()  # a deleted prompt is made again

    report = await build(out, concurrency=4)

    assert report.kept == ["menu"]
    assert report.made == ["goodbye"]
    assert len(report.unchanged) == len(default_prompts().texts) - 2
    assert (folder / "menu.wav").read_bytes() == studio.read_bytes()
    check_wav(folder / "goodbye.wav")
    assert any("kept" in line and "menu.wav" in line for line in report.lines())


async def test_a_file_there_before_any_build_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "zh" / "hotline"
    folder.mkdir(parents=True)
    (folder / "goodbye.wav").write_bytes(b"operator's")
    report = await build(tmp_path, ["goodbye", "invalid"])
    assert report.kept == ["goodbye"] and report.made == ["invalid"]
    assert (folder / "goodbye.wav").read_bytes() == b"operator's"
    assert (folder / MANIFEST).exists()


async def test_changed_text_is_made_again(tmp_path: Path) -> None:
    from hotline.ivr.prompts import Prompts

    shipped = default_prompts()
    await build(tmp_path, ["goodbye"], prompts=shipped)
    changed = Prompts({**shipped.texts, "goodbye": "再见。"}, "test")
    report = await build(tmp_path, ["goodbye"], prompts=changed)
    assert report.made == ["goodbye"]
    assert check_wav(tmp_path / "zh" / "hotline" / "goodbye.wav") < 2


async def test_unknown_names_and_missing_tools_are_clear_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PromptError, match="no prompt named 'nope'"):
        await build(tmp_path, ["menu", "nope"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissing, match="espeak-ng and sox not found"):
        await build(tmp_path, ["menu"])


def test_the_cli_builds_and_says_what_it_made(
        cli_isolation: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "snd"
    assert cli.main(["prompts", "build", "--out", str(out), "--only", "menu", "digits/7"]) == 0
    printed = capsys.readouterr().out
    assert f"made {out}/zh/hotline/menu.wav" in printed
    assert f"made {out}/zh/hotline/digits/7.wav" in printed
    check_wav(out / "zh" / "hotline" / "digits" / "7.wav")

    # Default folder: <data_dir>/sounds.
    assert cli.main(["prompts", "build", "--only", "goodbye"]) == 0
    check_wav(cli_isolation / "var" / "sounds" / "zh" / "hotline" / "goodbye.wav")

    assert cli.main(["prompts", "build", "--out", str(out), "--only", "nope"]) == 1
    assert "no prompt named 'nope'" in capsys.readouterr().err


def test_the_cli_exits_2_without_espeak_ng_or_sox(
        cli_isolation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert cli.main(["prompts", "build", "--out", str(tmp_path)]) == 2
    assert "espeak-ng and sox not found" in capsys.readouterr().err
