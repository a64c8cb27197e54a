"""12345 hotline (接诉即办) work orders: created transactionally, delivered through an outbox, never lost."""
