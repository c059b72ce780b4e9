"""Podcast download counts by the IAB Tech Lab's Podcast Measurement Technical Guidelines v2.2.

The pure core: ``AgentList`` classifies User-Agents from a list in OPAWG's format;
``covered`` adds up a listener's byte ranges, each byte once;
``id3v2_size`` and ``audio_info`` read where an episode's audio starts and its bitrate.
Importing this package does no I/O. See docs/analytics.md.
"""

from .agents import Agent, AgentList
from .errors import AnalyticsError, BadAgentList, BadPeriod, BadRow, NotAudio, StoreUnusable
from .intervals import Span, covered
from .mp3 import PROBE_BYTES, AudioInfo, FrameHeader, audio_info, frame_header, id3v2_size

__all__ = [
    "PROBE_BYTES",
    "Agent",
    "AgentList",
    "AnalyticsError",
    "AudioInfo",
    "BadAgentList",
    "BadPeriod",
    "BadRow",
    "FrameHeader",
    "NotAudio",
    "Span",
    "StoreUnusable",
    "audio_info",
    "covered",
    "frame_header",
    "id3v2_size",
]
