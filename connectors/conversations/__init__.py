"""Conversation store: citizens, their channel identities, conversations and every message."""
