"""govbot knowledge base: FAQ/matter entries (``models``), their loader (``loader``), CSV/XLSX
import/export (``io_tabular``), the retriever and the opening-hours engine.

Kept import-free on purpose so that importing one sub-package never drags in heavy dependencies
(embedding models, spreadsheets) that another caller does not need.
"""
