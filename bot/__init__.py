"""The Rasa assistant: config, domain, endpoints, and the custom actions in ``bot.actions``."""
