"""Local stand-ins for Databricks: a Spark+Delta session, dbutils, and a job runner."""
