"""The channel-neutral chat dialogue (DESIGN §8): what to ask next, what a draft report still lacks, status
look-ups, comments on open reports, in Vietnamese. A chat channel (``bots/zalo``) translates its events
into :class:`Incoming`, calls :func:`handle` and renders the :class:`Reply` list it gets back.

Public names: ``handle Incoming Reply FAILED_GENERIC ANONYMOUS_NOTE``.
"""

from backend.services.chat.conversations import handle
from backend.services.chat.intents import Incoming, Reply
from backend.services.chat.texts import ANONYMOUS_NOTE, FAILED_GENERIC

__all__ = ["ANONYMOUS_NOTE", "FAILED_GENERIC", "Incoming", "Reply", "handle"]
