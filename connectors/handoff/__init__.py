"""Handoff from the bot to human agents: tickets, queues and positions."""
