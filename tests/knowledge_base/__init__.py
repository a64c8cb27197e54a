"""Tests for the knowledge_base package (entries, loader, tabular import/export, sample data)."""
