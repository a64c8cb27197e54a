"""Agents (人工客服): accounts, sessions, the audit trail and the agent console at ``/agent``."""
