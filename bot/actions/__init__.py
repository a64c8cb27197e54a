"""Custom actions served by rasa-sdk (Python 3.11 action server).

rasa-sdk discovers ``Action`` subclasses in the modules imported here.
"""

from bot.actions import cases, faq, fallback, handoff, hotline, hours  # noqa: F401
