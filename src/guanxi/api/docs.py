"""Interactive API docs (Swagger UI) served entirely from this server.

ninja's default page loads Swagger UI from a CDN unless ``ninja`` is an installed app; a CRM
runs on company networks that may have no way out, and a third-party script on a page that
holds a session is a risk. ninja ships the Swagger UI files in its package, so we serve those
through one small view with a fixed list of names (no path ever comes from the request).
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ninja
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from ninja.openapi.docs import DocsBase, _csrf_needed

if TYPE_CHECKING:
    from ninja import NinjaAPI

ASSET_DIR = Path(ninja.__file__).resolve().parent / "static" / "ninja"
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-init.js",
                    "favicon.png", "favicon.svg"})

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }}</title>
  <link rel="stylesheet" href="{{ assets }}swagger-ui.css">
  <link rel="icon" href="{{ assets }}favicon.svg" type="image/svg+xml">
  <link rel="icon" href="{{ assets }}favicon.png" type="image/png">
</head>
<body data-csrf-token="{% if add_csrf %}{{ csrf_token }}{% endif %}"
      data-api-csrf="{% if add_csrf %}true{% endif %}">
  <script type="application/json" id="swagger-settings">{{ settings|safe }}</script>
  <div id="swagger-ui"></div>
  <script src="{{ assets }}swagger-ui-bundle.js"></script>
  <script src="{{ assets }}swagger-ui-init.js"></script>
</body>
</html>
""")


class LocalSwagger(DocsBase):
    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        settings = {"layout": "BaseLayout", "deepLinking": True,
                    "url": self.get_openapi_url(api, kwargs),
                    # Swagger UI would otherwise send the schema to validator.swagger.io.
                    "validatorUrl": None}
        assets = reverse("api-docs-asset", kwargs={"name": "x"})[:-1]
        context = {
            "title": api.title,
            "assets": assets,
            # </script> inside the JSON would end the script element early.
            "settings": json.dumps(settings).replace("</", "<\\/"),
            "add_csrf": _csrf_needed(api),
        }
        return HttpResponse(_PAGE.render(RequestContext(request, context)))


@require_GET
@cache_control(public=True, max_age=86400)
def docs_asset(request: HttpRequest, name: str) -> FileResponse:
    if name not in ASSETS:
        raise Http404(name)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse((ASSET_DIR / name).open("rb"), content_type=content_type)
