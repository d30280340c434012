"""Signals of the value engine.

``score_run_completed`` is sent once per complete run, after the transaction that swapped it in
has committed (``transaction.on_commit``), with ``sender=ScoreRun`` and ``run=`` the new
``ScoreRun``. Receivers (segments, retention...) may read ``CustomerValue`` / ``CustomerScore``
freely by then. A re-score of a *past* date is complete too but is not the latest: compare
``run`` with ``guanxi.value.selectors.latest_run()`` when only the latest values matter.
"""

from __future__ import annotations

from django.dispatch import Signal

score_run_completed = Signal()

__all__ = ["score_run_completed"]
