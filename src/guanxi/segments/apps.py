from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentsConfig(AppConfig):
    name = "guanxi.segments"
    label = "segments"
    verbose_name = _("Segments")

    def ready(self) -> None:
        # Connects the snapshot writer to ``score_run_completed``.
        from guanxi.segments import signals  # noqa: F401
