# Databricks notebook source
# MAGIC %md
# MAGIC # Orders maintenance (job `orders_maintenance`)
# MAGIC Prunes stage and quarantine rows of batches already merged and older than `stage_retention_days`, compacts
# MAGIC stage, quarantine and the logs, VACUUMs every pipeline table keeping `vacuum_retention_hours`
# MAGIC of history, and deletes archived files staged more than `archive_retention_days` ago. Safe while `orders`
# MAGIC runs. With `replay` set it only sends rejected files back to `landing_path` (docs/operating.md).
# MAGIC
# MAGIC | Parameter | Meaning |
# MAGIC |---|---|
# MAGIC | `catalog`, `schema` | where the tables live |
# MAGIC | `landing_path`, `archive_path`, `rejected_path` | the volume's folders |
# MAGIC | `stage_retention_days` | merged stage/quarantine rows younger than this are kept |
# MAGIC | `archive_retention_days` | archived files younger than this are kept |
# MAGIC | `vacuum_retention_hours` | at least 168 (Delta's safe default) |
# MAGIC | `dry_run` | `true`: report what would be removed, remove nothing |
# MAGIC | `replay` | empty, or `name=<file>`, `batch=<batch id>`, `reason=<text>`: replay those rejected files |

# COMMAND ----------

import json
import os
import sys

# The bundle syncs src/ next to notebooks/, and a notebook runs with its own folder as working directory.
_src = os.path.abspath(os.path.join(os.getcwd(), "..", "src"))
if _src not in sys.path:
    sys.path.insert(0, _src)

from order_tracking.replay import replay_rejected
from order_tracking.upkeep import UPKEEP_PARAMETERS, UpkeepConfig, run_upkeep

for _name in UPKEEP_PARAMETERS:
    dbutils.widgets.text(_name, "")
params = {name: dbutils.widgets.get(name) for name in UPKEEP_PARAMETERS}
config = UpkeepConfig.from_params(params)

# COMMAND ----------

if params["replay"].strip():
    replayed = replay_rejected(spark, config.tables, params["landing_path"], params["replay"])
    result = {"replayed": [vars(item) for item in replayed]}
else:
    result = run_upkeep(spark, config).as_dict()
print(json.dumps(result, default=str, indent=2))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(result, default=str))
