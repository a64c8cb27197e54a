"""The channel seam, modelled on Rasa's ``InputChannel``/``OutputChannel``.

A channel verifies and parses what arrives into an :class:`~connectors.message_router.Inbound`,
hands it to the router, and renders the router's replies in its own format. Adding a channel is
one module with one subclass; the app mounts whatever the registry holds.
"""

from __future__ import annotations

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


def register_channel(cls: type[Channel]) -> type[Channel]:
    _REGISTRY[cls.name] = cls
    return cls


def registered_channels() -> dict[str, type[Channel]]:
    # channel modules register themselves on import
    from connectors.channels import web  # noqa: F401

    return dict(_REGISTRY)
