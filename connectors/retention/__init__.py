"""Retention of citizen transcripts: anonymise or purge what is older than ``[retention] days``."""

from connectors.retention.job import RetentionJob, RetentionReport, run_retention
from connectors.retention.settings import RetentionSettings, load_retention_settings

__all__ = ["RetentionJob", "RetentionReport", "RetentionSettings", "load_retention_settings", "run_retention"]
