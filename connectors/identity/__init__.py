"""One citizen across channels: linking channel identities with one-time codes."""
