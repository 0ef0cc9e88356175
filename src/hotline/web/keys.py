"""Typed application keys: everything the handlers share, created by the app factory."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.agents.services import AgentDesk
from hotline.asterisk.ami import AmiNodes
from hotline.asterisk.fastagi import FastAgiServer
from hotline.bus import Bus
from hotline.config import Settings
from hotline.db.engine import SessionMaker
from hotline.ivr.context import FlowContext
from hotline.queue.ami_events import QueueMonitor
from hotline.queue.virtual_hold import VirtualHoldService
from hotline.recordings.services import RecordingStore

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", SessionMaker)
AMI = web.AppKey("ami", AmiNodes)
FASTAGI = web.AppKey("fastagi", FastAgiServer)
BUS = web.AppKey("bus", Bus)
RECORDINGS = web.AppKey("recordings", RecordingStore)
IVR = web.AppKey("ivr", FlowContext)  # the call flows' context (set on_survey on it)
AGENT_DESK = web.AppKey("agent_desk", AgentDesk)  # agent states, desks, wallboard (agents/)
QUEUES = web.AppKey("queues", QueueMonitor)  # live queue state + today's counters (queue/)
VIRTUAL_HOLD = web.AppKey("virtual_hold", VirtualHoldService)  # offer/accept for the IVR
