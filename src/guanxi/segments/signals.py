"""Receivers of the segments domain.

After every complete scoring run the rule and list segments are written into that run's snapshot,
so segment migration can later be read between any two runs. A re-score of a date replaces the
run; its old memberships go with the old run (cascade).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from guanxi.value.models import ScoreRun
from guanxi.value.signals import score_run_completed


@receiver(score_run_completed, dispatch_uid="segments_snapshot")
def write_segment_snapshot(sender: Any, *, run: ScoreRun, **kwargs: Any) -> None:
    from guanxi.segments.services import snapshot_write

    snapshot_write(run=run)


@receiver(score_run_completed, dispatch_uid="segments_statistical")
def build_statistical_segments(sender: Any, *, run: ScoreRun, **kwargs: Any) -> None:
    # After the snapshot above: the statistical memberships of the same run (when configured).
    from guanxi.segments.statistical import segmentation_after_scoring

    segmentation_after_scoring(run=run)
