"""Speech recognition of the caller's statement with vosk (DESIGN.md §2, issue 4).

One vosk `Model` per model folder and process, loaded on first use in a worker thread
(`load_model`; the app may call `SpeechRecognizer.load()` at start to have it ready). A missing
or unusable model is logged once and remembered: every recognition then answers `unavailable`
at once.

`SpeechRecognizer.recognize(wav)` reads the statement Asterisk recorded (RECORD FILE, format
`wav`: 8 kHz mono 16-bit PCM), resamples it to the model's rate and runs two passes at the same
time in a bounded thread pool:
- the grammar pass: the recognizer may only choose among the emergency words of the model's
  language (`data/speech-<language>.toml`) and "[unk]", so an emergency word is caught even when
  the free transcript garbles the sentence;
- the free pass: the transcript, stored on the call and pre-filling the ticket. For Mandarin it
  also goes through the text classifier (`hotline.ivr.emergency`), which knows negation and false
  friends (没有着火, 火锅).

It never raises and never makes a caller wait on a saturated pool: the result's `status` is `ok`,
`unavailable` (no model), `timeout` (`[speech] timeout` passed), `busy` (`max_concurrent`
recognitions already running: answered at once) or `error` (unreadable audio, recognizer
failure), and the flows send anything but `ok` to an agent. Every non-ok outcome is logged.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import re
import threading
import time
import tomllib
import wave
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hotline.ivr.audio import stream_pcm, wav_info

__all__ = ["Recognition", "SpeechRecognizer", "SpeechUnavailable", "Status", "Vocabulary",
           "load_model"]

log = logging.getLogger(__name__)

DATA = Path(__file__).with_name("data")
SERVICES = ("110", "119", "120", "122")
UNKNOWN_WORD = "[unk]"
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])")


class Status(StrEnum):
    OK = "ok"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    BUSY = "busy"
    ERROR = "error"


class SpeechUnavailable(Exception):
    """No usable speech model (not configured, missing folder, not a vosk model)."""


@dataclass(frozen=True)
class Recognition:
    """What the recognizer heard. `duration_s`: the audio's length; `elapsed_s`: time taken."""

    status: Status
    text: str = ""
    emergency_service: str | None = None
    matched_words: tuple[str, ...] = ()
    duration_s: float = 0.0
    elapsed_s: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def report(self) -> str:
        """What `hotline speech check` prints."""
        lines = [f"status: {self.status}" + (f" ({self.detail})" if self.detail else ""),
                 f"text: {self.text}",
                 f"emergency words: {' '.join(self.matched_words) or '-'}",
                 f"emergency service: {self.emergency_service or '-'}",
                 f"audio: {self.duration_s:.2f} s, recognized in {self.elapsed_s:.2f} s"]
        return "\n".join(lines)


@dataclass(frozen=True)
class Vocabulary:
    """Emergency words of one language for the grammar pass: word → service."""

    language: str
    words: Mapping[str, str]
    priority: tuple[str, ...] = SERVICES
    fillers: tuple[str, ...] = ()

    @classmethod
    def load(cls, language: str, path: Path | None = None) -> Vocabulary:
        path = path or DATA / f"speech-{language}.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpeechUnavailable(f"no emergency vocabulary for language {language!r} "
                                    f"({path} is missing)") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SpeechUnavailable(f"{path}: unusable emergency vocabulary: {exc}") from None
        return cls.from_data(data, str(path))

    @classmethod
    def from_data(cls, data: Mapping[str, Any], where: str = "vocabulary") -> Vocabulary:
        unknown = set(data) - {"language", "priority", "fillers", "words"}
        if unknown:
            raise SpeechUnavailable(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        table = data.get("words")
        if not isinstance(table, dict) or not table:
            raise SpeechUnavailable(f"{where}: a non-empty [words] table is required")
        words: dict[str, str] = {}
        for service, terms in table.items():
            if service not in SERVICES:
                raise SpeechUnavailable(f"{where}: words.{service}: not one of {SERVICES}")
            if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip()
                                                      for t in terms):
                raise SpeechUnavailable(f"{where}: words.{service}: a list of non-empty words")
            for term in terms:
                if words.setdefault(term.strip(), service) != service:
                    raise SpeechUnavailable(f"{where}: {term!r} is listed for two services")
        priority = tuple(data.get("priority", SERVICES))
        if sorted(priority) != sorted(SERVICES):
            raise SpeechUnavailable(f"{where}: priority must list {', '.join(SERVICES)} once")
        fillers = data.get("fillers", [])
        if not isinstance(fillers, list) or not all(isinstance(f, str) for f in fillers):
            raise SpeechUnavailable(f"{where}: fillers must be a list of words")
        return cls(str(data.get("language", "")), words, priority, tuple(fillers))

    def grammar(self) -> str:
        """The JSON word list vosk's KaldiRecognizer takes as its grammar."""
        return json.dumps([*self.words, *self.fillers, UNKNOWN_WORD], ensure_ascii=False)

    def matches(self, heard: Iterable[str]) -> tuple[str, ...]:
        return tuple(word for word in heard if word in self.words)

    def service_of(self, words: Iterable[str]) -> str | None:
        services = {self.words[w] for w in words if w in self.words}
        return next((s for s in self.priority if s in services), None)


# The model: once per folder and process ---------------------------------------------------------

_models: dict[str, Any] = {}
_failures: dict[str, SpeechUnavailable] = {}
_models_lock = threading.Lock()


def load_model(path: str | Path) -> Any:
    """The vosk Model of a folder, loaded once per process (blocking: call it in a thread).
    Raises `SpeechUnavailable`, logged the first time, for a folder that cannot be loaded."""
    key = str(Path(path).resolve()) if str(path) else ""
    with _models_lock:
        if key in _models:
            return _models[key]
        if key in _failures:
            raise _failures[key]
        try:
            model = _load(key)
        except SpeechUnavailable as exc:
            _failures[key] = exc
            # No model configured is a setting (the quick start has none): callers go to an
            # agent. A configured model that will not load is an error an operator must fix.
            log.log(logging.ERROR if key else logging.WARNING,
                    "speech recognition unavailable: %s", exc)
            raise
        _models[key] = model
        return model


@atexit.register
def unload_models() -> None:
    """Free the loaded models. Run at exit, before the interpreter tears its modules down:
    a Model freed later finds vosk's C library gone (`Model.__del__` then prints "Exception
    ignored ... 'NoneType' object has no attribute 'vosk_model_free'"). atexit runs after the
    worker threads of the pools were joined, so no recognition is using a model then."""
    with _models_lock:
        _models.clear()
        _failures.clear()


def _load(path: str) -> Any:
    if not path:
        raise SpeechUnavailable("no model configured ([speech] model)")
    folder = Path(path)
    if not folder.is_dir():
        raise SpeechUnavailable(f"model folder {folder} does not exist")
    if not (folder / "am").is_dir() and not (folder / "final.mdl").exists():
        raise SpeechUnavailable(f"{folder} is not a vosk model folder (no am/)")
    try:
        import vosk
    except ImportError as exc:
        raise SpeechUnavailable(f"the vosk package is not installed: {exc}") from None
    vosk.SetLogLevel(-1)  # its own messages go to stderr; ours go to the log
    started = time.monotonic()
    try:
        model = vosk.Model(str(folder))
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise SpeechUnavailable(f"{folder}: vosk cannot load this model ({exc})") from None
    log.info("speech model %s loaded in %.1f s", folder, time.monotonic() - started)
    return model


# Recognition -------------------------------------------------------------------------------------

class _Bound:
    """How many recognitions run; never more than `limit` (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self.running >= self.limit:
                return False
            self.running += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.running -= 1


@dataclass
class _Slot:
    """One running recognition: holds its place in the bound until its last thread is done
    (a pass that outlives its timeout still occupies a thread, and still counts)."""

    bound: _Bound
    holders: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, future: Future[Any]) -> None:
        with self.lock:
            self.holders += 1
        future.add_done_callback(lambda _: self.release())

    def release(self) -> None:
        with self.lock:
            self.holders -= 1
            last = self.holders == 0
        if last:
            self.bound.release()


def _decode(recognizer: Any, blocks: Iterable[bytes]) -> str:
    """Feed the audio; vosk ends an utterance at a pause (AcceptWaveform true) and forgets it
    on the next block unless its result is taken then."""
    parts = []
    for block in blocks:
        if recognizer.AcceptWaveform(block):
            parts.append(json.loads(recognizer.Result()).get("text", ""))
    parts.append(json.loads(recognizer.FinalResult()).get("text", ""))
    return " ".join(part for part in parts if part)


class SpeechRecognizer:
    """Recognizes statements with one vosk model; see the module docstring."""

    def __init__(self, model_path: str | Path | None, *, language: str = "zh",
                 sample_rate: int = 16000, timeout: float = 3.0, max_concurrent: int = 2,
                 vocabulary: Vocabulary | None = None,
                 classify: Callable[[str], Any] | None = None) -> None:
        self.model_path = str(model_path or "")
        self.language = language
        self.sample_rate = sample_rate
        self.timeout = timeout
        self.max_concurrent = max_concurrent
        self._vocabulary = vocabulary
        if classify is None and language == "zh":
            from hotline.ivr.emergency import classify
        self._classify = classify
        self._bound = _Bound(max_concurrent)
        # Two passes per recognition run side by side.
        self._pool = ThreadPoolExecutor(max_concurrent * 2, thread_name_prefix="speech")
        self._loading: asyncio.Future[Any] | None = None

    @classmethod
    def from_settings(cls, speech: Any) -> SpeechRecognizer:
        """From the `[speech]` section (`hotline.config.SpeechConfig`)."""
        return cls(speech.model or None, language=speech.language,
                   sample_rate=speech.sample_rate, timeout=speech.timeout,
                   max_concurrent=speech.max_concurrent)

    @property
    def running(self) -> int:
        """Recognitions holding a place (including passes still running after a timeout)."""
        return self._bound.running

    def close(self, wait: bool = False) -> None:
        """Stop the threads (`wait`: block until running passes end; call it in a thread)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)

    @property
    def vocabulary(self) -> Vocabulary:
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.load(self.language)
        return self._vocabulary

    async def load(self) -> Any:
        """The model, loaded in a thread the first time; raises `SpeechUnavailable`."""
        if self._loading is None:
            loop = asyncio.get_running_loop()
            self._loading = loop.run_in_executor(None, load_model, self.model_path)
        # Shielded: a caller's timeout does not stop the load the next caller will use.
        return await asyncio.shield(self._loading)

    async def warm_up(self) -> bool:
        """Load the model now (at start-up) rather than on the first call; False if unusable
        (already logged)."""
        try:
            await self.load()
        except SpeechUnavailable:
            return False
        return True

    async def recognize(self, wav_path: str | Path) -> Recognition:
        started = time.monotonic()
        if not self._bound.try_acquire():
            log.warning("speech %s: %d recognitions running; busy", wav_path, self.max_concurrent)
            return Recognition(Status.BUSY, detail="all recognizers busy")
        slot = _Slot(self._bound)
        try:
            result = await self._recognize(Path(wav_path), slot)
        except SpeechUnavailable as exc:
            result = Recognition(Status.UNAVAILABLE, detail=str(exc))
        except TimeoutError:
            log.warning("speech %s: no result within %g s", wav_path, self.timeout)
            result = Recognition(Status.TIMEOUT, detail=f"no result within {self.timeout:g} s")
        except Exception as exc:
            log.exception("speech %s: recognition failed", wav_path)
            result = Recognition(Status.ERROR, detail=f"{type(exc).__name__}: {exc}")
        finally:
            slot.release()
        return _with_elapsed(result, time.monotonic() - started)

    async def _recognize(self, wav: Path, slot: _Slot) -> Recognition:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        vocabulary = self.vocabulary
        async with asyncio.timeout_at(deadline):
            model = await self.load()
            try:
                info = await asyncio.wrap_future(self._submit(slot, wav_info, wav))
            except (OSError, EOFError, wave.Error, ValueError) as exc:
                log.warning("speech %s: unreadable audio: %s", wav, exc)
                return Recognition(Status.ERROR, detail=f"unreadable audio: {exc}")
            # Each pass reads and resamples the file block by block on its own.
            grammar = self._submit(slot, self._grammar_pass, model, wav, vocabulary.grammar())
            free = self._submit(slot, self._free_pass, model, wav)
            heard = await asyncio.wrap_future(grammar)
        try:
            async with asyncio.timeout_at(deadline):
                text = await asyncio.wrap_future(free)
        except TimeoutError:
            # The grammar pass decided in time: its verdict stands without a transcript.
            log.warning("speech %s: transcript not ready within %g s", wav, self.timeout)
            text = ""
        return self._verdict(heard, text, info.seconds)

    def _submit(self, slot: _Slot, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self._pool.submit(fn, *args)
        slot.hold(future)
        return future

    def _grammar_pass(self, model: Any, wav: Path, grammar: str) -> list[str]:
        import vosk

        recognizer = vosk.KaldiRecognizer(model, self.sample_rate, grammar)
        return _decode(recognizer, stream_pcm(wav, self.sample_rate)).split()

    def _free_pass(self, model: Any, wav: Path) -> str:
        import vosk

        recognizer = vosk.KaldiRecognizer(model, self.sample_rate)
        return _decode(recognizer, stream_pcm(wav, self.sample_rate))

    def _verdict(self, heard: list[str], text: str, duration: float) -> Recognition:
        vocabulary = self.vocabulary
        matched = vocabulary.matches(heard)
        service = vocabulary.service_of(matched)
        if self.language == "zh":
            text = _CJK_GAP.sub("", text)
        if self._classify is not None and text:
            verdict = self._classify(text)
            if verdict.service is not None:
                service = verdict.service
                matched = (*matched, verdict.keyword) if verdict.keyword else matched
            else:
                # Words the transcript holds were judged by the classifier (negated, false
                # friends); the grammar's word counts only when the transcript lost it.
                compact = text.replace(" ", "")
                service = vocabulary.service_of(w for w in matched if w not in compact)
        return Recognition(Status.OK, text, service, tuple(dict.fromkeys(matched)), duration)


def _with_elapsed(result: Recognition, elapsed: float) -> Recognition:
    from dataclasses import replace

    return replace(result, elapsed_s=round(elapsed, 3))
