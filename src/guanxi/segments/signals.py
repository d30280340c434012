"""Receivers of the segments domain.

After every complete scoring run the rule and list segments are written into that run's snapshot,
so segment migration can later be read between any two runs. A re-score of a date replaces the
run; its old memberships go with the old run (cascade).
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from guanxi.value.models import ScoreRun
from guanxi.value.signals import score_run_completed

log = logging.getLogger(__name__)


@receiver(score_run_completed, dispatch_uid="segments_snapshot")
def write_segment_snapshot(sender: Any, *, run: ScoreRun, **kwargs: Any) -> None:
    from guanxi.segments.services import snapshot_write

    try:
        snapshot_write(run=run)
    except Exception:
        # The scores have committed: a broken rule must not make scoring look failed. The
        # snapshot can be written again with ``guanxi segments snapshot``.
        log.exception("Segment snapshot of scoring run %s failed", run.pk)


@receiver(score_run_completed, dispatch_uid="segments_statistical")
def build_statistical_segments(sender: Any, *, run: ScoreRun, **kwargs: Any) -> None:
    # After the snapshot above: the statistical memberships of the same run (when configured).
    from guanxi.segments.statistical import segmentation_after_scoring

    segmentation_after_scoring(run=run)
