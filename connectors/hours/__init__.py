"""HTTP views over the hours engine (knowledge_base.hours)."""
