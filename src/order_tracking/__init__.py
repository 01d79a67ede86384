"""Event-driven ingestion of order-tracking CSV files into Delta tables (Databricks and local)."""

__version__ = "0.1.0"
