"""The lessons' training tables as a user would hand them to the audit: a frame and its spec.

A table is what a team would have exported at ``extracted_at``: per purchase its ids, its decision
time (``event_time``), its label as known at extraction, when that label became known
(``label_known_at``: the chargeback's ``reported_at``, null for negatives), the buyer's cohort,
the model's features and, for the nightly features, when the snapshot read was published
(``snapshot_available_at``). Ground truth (``is_fraud``) and analysis columns are left out: a
team does not have them.
"""

from __future__ import annotations

import pandas as pd

from ..experiment import Timeline
from ..lookup import by_txn_id
from ..pipelines import NIGHTLY_COLUMNS, Switches, build_training_set
from ..world import World

AVAILABLE_AT = "snapshot_available_at"
KNOWN_AT = "label_known_at"


def training_table(world: World, switches: Switches, timeline: Timeline | None = None) -> tuple[pd.DataFrame, dict]:
    """The training table ``switches`` build on ``world`` (the lessons' timeline by default),
    and the audit spec that describes it (a mapping, as parsed from TOML)."""
    timeline = Timeline.for_world(world) if timeline is None else timeline
    table = build_training_set(world, start=timeline.train_start, end=timeline.extracted_at, switches=switches)
    frame = table.frame
    reported = by_txn_id(world.chargebacks.sort_values("txn_id"), frame["txn_id"].to_numpy(), ["reported_at"])
    known_at = reported["reported_at"].where(frame["label"].to_numpy())
    out = pd.concat([frame[["txn_id", "user_id", "event_time", "label", "cohort", *table.features, AVAILABLE_AT]],
                     known_at.rename(KNOWN_AT)], axis=1)
    nightly = set(NIGHTLY_COLUMNS.values())
    spec = {"decision_time": "event_time", "label": "label", "label_known_at": KNOWN_AT,
            "extracted_at": timeline.extracted_at.to_pydatetime(), "entity": "user_id", "segments": ["cohort"],
            "features": {f: ({"available_at": AVAILABLE_AT} if f in nightly else {}) for f in table.features}}
    return out, spec
