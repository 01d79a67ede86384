# Databricks notebook source
# MAGIC %md
# MAGIC # Orders target merge (task 2)
# MAGIC Merges every committed stage batch not merged yet into `<catalog>.<schema>.orders_target`
# MAGIC (SCD type 1): the newest row per `tracking_num` wins, by `status_ts` when present, else by arrival.
# MAGIC A matched row is updated only when the incoming row is newer and something changed, so a rerun is a
# MAGIC no-op and a late, older file never overwrites a newer status.
# MAGIC
# MAGIC | Parameter | Meaning |
# MAGIC |---|---|
# MAGIC | `catalog`, `schema` | where the tables live |

# COMMAND ----------

import json
import os
import sys

# The bundle syncs src/ next to notebooks/, and a notebook runs with its own folder as working directory.
_src = os.path.abspath(os.path.join(os.getcwd(), "..", "src"))
if _src not in sys.path:
    sys.path.insert(0, _src)

from order_tracking.config import TARGET_PARAMETERS, TargetConfig
from order_tracking.merge import merge_pending

for _name in TARGET_PARAMETERS:
    dbutils.widgets.text(_name, "")
config = TargetConfig.from_widgets(dbutils.widgets)
staged = dbutils.jobs.taskValues.get(taskKey="orders_stage", key="batch_id", default=None, debugValue=None)

# COMMAND ----------

summary = merge_pending(spark, config)
print(f"stage batch of this run: {staged}")
print(json.dumps(summary.as_dict(), default=str, indent=2))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(summary.as_dict(), default=str))
