"""The channel seam, modelled on Rasa's ``InputChannel``/``OutputChannel``.

A channel verifies and parses what arrives into an :class:`~connectors.message_router.Inbound`,
hands it to the router, and renders the router's replies in its own format. Adding a channel is
one module with one subclass; the app mounts whatever the registry holds.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import APIRouter

if TYPE_CHECKING:
    from connectors.gateway import Gateway
    from connectors.message_router import Reply

_REGISTRY: dict[str, type[Channel]] = {}


class Channel(ABC):
    name: ClassVar[str]

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @abstractmethod
    def router(self) -> APIRouter:
        """Inbound endpoints of this channel."""

    @abstractmethod
    def render(self, replies: list[Reply]) -> Any:
        """Replies in the channel's own format."""

    async def push(self, external_user_id: str, conversation_id: str, replies: list[Reply]) -> bool:
        """Deliver replies that answer no request (agent messages, queue updates, late bot replies).

        Returns whether the citizen could be reached now; undelivered replies stay in the transcript
        and are shown to agents. Web-style channels publish to the gateway's push hub.
        """
        event = {"type": "replies", "conversation_id": conversation_id, "replies": self.render(replies)}
        return await self.gateway.push_hub.publish(conversation_id, event) > 0


def register_channel(cls: type[Channel]) -> type[Channel]:
    _REGISTRY[cls.name] = cls
    return cls


# one module per channel; each registers itself on import
CHANNEL_MODULES: tuple[str, ...] = ("web", "wechat", "app")


def registered_channels() -> dict[str, type[Channel]]:
    for module in CHANNEL_MODULES:
        importlib.import_module(f"connectors.channels.{module}")
    return dict(_REGISTRY)
