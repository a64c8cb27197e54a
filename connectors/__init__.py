"""govbot gateway: the one door for every channel (web, WeChat, app), the conversation store and handoff."""
