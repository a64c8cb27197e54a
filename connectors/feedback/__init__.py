"""Citizen feedback: 表扬台/曝光台 entries about windows and staff, and satisfaction ratings."""
