"""The contract between `dialplans/` and the controller: context names, channel variables, AGI
routes, sound names and softphone naming. The dialplan files spell these out literally;
`tests/unit/test_dialplan_lint.py` checks that every name here exists there, so code that
originates, redirects or reads variables imports them from this module instead of repeating
strings. dialplans/README.md describes each one.
"""

from __future__ import annotations

import enum
import re

# Contexts -----------------------------------------------------------------------------------

CTX_INBOUND = "hotline-inbound"  # the carrier trunk's context: DID → line
CTX_LINES = "hotline-lines"  # rendered: one extension per DID (hotline-lines.conf)
CTX_CALL = "hotline-call"  # an inbound call: record, FastAGI `ivr`, dispatch
CTX_DISPATCH = "hotline-dispatch"  # reads HOTLINE_DEST after the AGI
CTX_QUEUE = "hotline-queue"  # s: join HOTLINE_QUEUE (overflow to the default queue)
CTX_EMERGENCY = "hotline-emergency"  # 110/119/120/122 through the trunk, caller's number kept
CTX_OUTBOUND = "hotline-outbound"  # Local/<number>@hotline-outbound: the citizen's leg
CTX_CALLBACK = "hotline-callback"  # s: answered callback → FastAGI `callback` → queue
CTX_SURVEY = "hotline-survey"  # s: answered follow-up call → FastAGI `survey`
CTX_SPY = "hotline-spy"  # listen / whisper / barge on HOTLINE_SPY_TARGET
CTX_AGENTS = "hotline-agents"  # context of agents' softphones
CTX_SUPERVISORS = "hotline-supervisors"  # context of supervisors' softphones
CTX_AGENT_EXTENSIONS = "hotline-agent-extensions"  # rendered: softphone extensions and hints
CTX_RECORD = "hotline-record"  # Gosub: start MixMonitor once per call

CONTEXTS = (
    CTX_INBOUND, CTX_LINES, CTX_CALL, CTX_DISPATCH, CTX_QUEUE, CTX_EMERGENCY, CTX_OUTBOUND,
    CTX_CALLBACK, CTX_SURVEY, CTX_SPY, CTX_AGENTS, CTX_SUPERVISORS, CTX_AGENT_EXTENSIONS,
    CTX_RECORD,
)

START_EXTEN = "s"  # hotline-queue, hotline-callback and hotline-survey start at s,1
EMERGENCY_NUMBERS = ("110", "119", "120", "122")  # police, fire, ambulance, traffic


class SpyMode(enum.StrEnum):
    """Extensions of hotline-spy (ChanSpy options q, then w for whisper, B for barge)."""

    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


class Destination(enum.StrEnum):
    """Values of HOTLINE_DEST, set by the controller before its AGI returns."""

    QUEUE = "queue"  # the default, also for an empty or unknown value
    EMERGENCY = "emergency"  # with HOTLINE_EMERGENCY = 110 | 119 | 120 | 122
    HANGUP = "hangup"  # the controller has finished the call


# FastAGI routes: AGI(agi://${HOTLINE_AGI}/<route>?…)
AGI_ROUTES = ("ivr", "callback", "survey")

# Channel variables ----------------------------------------------------------------------------

# Set by the dialplan, readable by the controller (AGI GET VARIABLE / AMI Getvar).
VAR_LINE = "HOTLINE_LINE"  # line code: "96128", "12345-5301"
VAR_REGION = "HOTLINE_REGION"  # GB/T 2260 code of the line's region
VAR_RECORDING = "HOTLINE_RECORDING"  # absolute path of this call's MixMonitor file
# Set by the controller (AGI SET VARIABLE before returning, or Originate Variable:).
VAR_DEST = "HOTLINE_DEST"
VAR_EMERGENCY = "HOTLINE_EMERGENCY"
VAR_EMERGENCY_AREA = "HOTLINE_EMERGENCY_AREA"  # optional area-code prefix for the emergency call
VAR_QUEUE = "HOTLINE_QUEUE"  # also set by the dialplan to the line's queue
VAR_PRIORITY = "HOTLINE_PRIORITY"  # → QUEUE_PRIO (higher is served first)
VAR_MAX_PENALTY = "HOTLINE_MAX_PENALTY"  # → QUEUE_MAX_PENALTY (skills as penalties)
VAR_QUEUE_TIMEOUT = "HOTLINE_QUEUE_TIMEOUT"  # seconds before overflow to the default queue
VAR_JOB = "HOTLINE_JOB"  # callback / follow-up job id (Originate)
VAR_CALLERID = "HOTLINE_CALLERID"  # number shown to the citizen on outbound calls (Originate)
VAR_SPY_TARGET = "HOTLINE_SPY_TARGET"  # endpoint to spy on, e.g. agent8001 (Originate)
# Set by the survey flow as each answer comes: satisfied | basically_satisfied | dissatisfied,
# and yes | no (the dialplan reports them in its HotlineSurveyResult UserEvent).
VAR_SURVEY_SATISFACTION = "HOTLINE_SURVEY_SATISFACTION"
VAR_SURVEY_SOLVED = "HOTLINE_SURVEY_SOLVED"

CONTROLLER_VARIABLES = (
    VAR_DEST, VAR_EMERGENCY, VAR_EMERGENCY_AREA, VAR_QUEUE, VAR_PRIORITY, VAR_MAX_PENALTY,
    VAR_QUEUE_TIMEOUT, VAR_JOB, VAR_CALLERID, VAR_SPY_TARGET, VAR_LINE, VAR_REGION,
    VAR_SURVEY_SATISFACTION, VAR_SURVEY_SOLVED,
)

# [globals] of asterisk-conf/extensions.conf that the controller's configuration must agree with.
GLOBAL_NODE = "HOTLINE_NODE"  # = the [[asterisk]] node name in hotline.toml
GLOBAL_RECORDINGS = "HOTLINE_RECORDINGS"  # = [recordings] dir in hotline.toml
GLOBAL_TIMEZONE = "HOTLINE_TIMEZONE"  # = time_zone in hotline.toml
GLOBAL_AGI = "HOTLINE_AGI"  # host:port where Asterisk reaches [fastagi] bind

# UserEvents the dialplan sends (AMI class `user`): Event: UserEvent, UserEvent: <name>.
EVENT_FALLBACK = "HotlineFallback"  # the AGI failed; the call went to the queue without the IVR
EVENT_QUEUE_RESULT = "HotlineQueueResult"  # Queue() returned without an agent (Status: …)
EVENT_EMERGENCY_FAILED = "HotlineEmergencyFailed"  # the emergency number did not answer
EVENT_SURVEY_RESULT = "HotlineSurveyResult"  # a survey call ended: Job, Satisfaction, Solved
USER_EVENTS = (EVENT_FALLBACK, EVENT_QUEUE_RESULT, EVENT_EMERGENCY_FAILED, EVENT_SURVEY_RESULT)

# Sounds ---------------------------------------------------------------------------------------

# Ours, under sounds/<language>/hotline/ (the IVR issue's `hotline prompts build` makes them).
HOTLINE_SOUNDS = {
    "hotline/queue-periodic": "您的来电正在排队，请稍候，我们将尽快为您服务。",
    "hotline/all-busy": "对不起，现在没有话务员可以接听，请稍后再拨。",
    "hotline/survey-unavailable": "对不起，回访系统暂时无法使用，我们将另行与您联系。再见。",
}
# Stock Asterisk sounds the configuration may use (asterisk-core-sounds).
STOCK_SOUNDS = frozenset({"beep"})

# Softphones -------------------------------------------------------------------------------------

# A softphone's extension is its agent profile's (agent_profiles.extension, hotline.agents);
# this derived one is the default: for users without a profile, and a new profile's first value.
EXTENSION_BASE = 8000
ENDPOINT_PREFIX = "agent"
_ENDPOINT = re.compile(rf"^{ENDPOINT_PREFIX}(\d+)$")


def extension_for(user_id: int) -> str:
    return str(EXTENSION_BASE + user_id)


def endpoint_for(extension: str) -> str:
    """PJSIP endpoint (also its auth and aor) of a softphone extension: agent8001."""
    return f"{ENDPOINT_PREFIX}{extension}"


def interface_for(extension: str) -> str:
    """Queue member interface (QueueAdd Interface:) of a softphone extension."""
    return f"PJSIP/{endpoint_for(extension)}"


def extension_of_endpoint(endpoint: str) -> str | None:
    match = _ENDPOINT.match(endpoint)
    return match[1] if match else None


def dialable(number: str) -> bool:
    """A number the controller can call back: ASCII digits (not a withheld caller ID)."""
    return number.isascii() and number.isdigit() and len(number) <= 32


def outbound_channel(number: str) -> str:
    """Originate Channel: for a callback or follow-up call to a citizen's number."""
    if not dialable(number):
        raise ValueError(f"not a telephone number: {number!r}")
    return f"Local/{number}@{CTX_OUTBOUND}"
