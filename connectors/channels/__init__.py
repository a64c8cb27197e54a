"""Channels: one small base class, one module per channel, a registry by name."""

from connectors.channels.base import Channel, registered_channels, register_channel

__all__ = ["Channel", "register_channel", "registered_channels"]
