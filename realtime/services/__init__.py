"""The services that sessions and the HTTP API share: what a node does, not how it is asked."""

from __future__ import annotations

from dataclasses import dataclass

from realtime.services.groups import GroupService
from realtime.services.likes import LikesService
from realtime.services.messaging import MessagingService
from realtime.services.moderation import ModerationService
from realtime.services.presence import PresenceService
from realtime.services.publisher import Publisher
from realtime.services.typing import TypingService


@dataclass(frozen=True, slots=True)
class Services:
    """The node's services, built and owned by :class:`realtime.node.Node`."""

    publisher: Publisher
    messaging: MessagingService
    typing: TypingService
    likes: LikesService
    presence: PresenceService
    groups: GroupService
    moderation: ModerationService
