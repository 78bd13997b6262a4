"""Production replay: score the purchases after deployment exactly as production saw them.

Features come from the serving log (what the online service returned at each
decision time, outages included) and from the nightly snapshot readable at
that time (as of ``available_at``); labels are the chargebacks eventually
reported. Nothing here can see a value before it was known.
"""

from __future__ import annotations

import pandas as pd

from .model import Model
from .pipelines import SERVED_UNAVAILABLE, ModelTable, Switches, production_table
from .sample import FULL, WEIGHT, EvaluationSample
from .world import World

# What a scored frame keeps besides the score: enough to slice by time, cohort,
# mechanism and feature availability without carrying every model column, and
# the weight of each row (how many purchases it stands for).
KEEP = ("txn_id", "user_id", "event_time", "cohort", "is_fraud", "fraud_scenario", "label", "amount",
        "hour_of_day", "is_new_device", SERVED_UNAVAILABLE, WEIGHT)


def scored(model: Model, table: ModelTable) -> pd.DataFrame:
    """The rows of ``table`` with the model's ``score`` and the raw feature statuses."""
    frame = table.frame
    keep = [c for c in frame.columns if c in KEEP or c.startswith("raw_")]
    return frame[keep].assign(score=model.score(table))


def replay(model: Model, world: World, *, start, end, switches: Switches,
           sample: EvaluationSample = FULL) -> pd.DataFrame:
    """Score the purchases in ``[start, end)`` (or their evaluation ``sample``, with weights)
    with features as served; eventual labels."""
    return scored(model, production_table(world, start=start, end=end, switches=switches, sample=sample))
