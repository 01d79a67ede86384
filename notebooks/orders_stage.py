# Databricks notebook source
# MAGIC %md
# MAGIC # Orders stage load (task 1)
# MAGIC Appends every settled CSV waiting in `landing_path` to `<catalog>.<schema>.orders_stage`, sets bad rows
# MAGIC aside in `orders_quarantine` with the reason, commits the batch in `orders_file_log`, then moves each
# MAGIC loaded file to `archive_path/<yyyy>/<mm>/<dd>/<batch_id>/` and each rejected file to `rejected_path`.
# MAGIC
# MAGIC | Parameter | Meaning |
# MAGIC |---|---|
# MAGIC | `catalog`, `schema` | where the tables live |
# MAGIC | `landing_path` | the folder the file-arrival trigger watches (`/Volumes/.../incoming`) |
# MAGIC | `archive_path`, `rejected_path` | where files go afterwards; both must be outside `landing_path` |
# MAGIC | `settle_seconds` | a file modified more recently than this is still being written |
# MAGIC | `max_wait_seconds` | how long the task waits for such files before leaving them to the next run |

# COMMAND ----------

import json
import os
import sys

# The bundle syncs src/ next to notebooks/, and a notebook runs with its own folder as working directory.
_src = os.path.abspath(os.path.join(os.getcwd(), "..", "src"))
if _src not in sys.path:
    sys.path.insert(0, _src)

from order_tracking.config import STAGE_PARAMETERS, StageConfig
from order_tracking.stage import stage_new_files

for _name in STAGE_PARAMETERS:
    dbutils.widgets.text(_name, "")
config = StageConfig.from_widgets(dbutils.widgets)

# COMMAND ----------

# A status_ts without an offset means UTC, whatever the workspace's default session time zone.
spark.conf.set("spark.sql.session.timeZone", "UTC")
summary = stage_new_files(spark, config)
for key, value in summary.task_values().items():
    dbutils.jobs.taskValues.set(key=key, value=value)
print(json.dumps(summary.as_dict(), default=str, indent=2))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(summary.as_dict(), default=str))
