"""Content-Security-Policy on every page the server renders (not on the JSON API).

Scripts run only from this server (``'self'``) or inline with the per-response nonce
(``request.csp_nonce``, put on the few inline ``<script>`` elements of our templates); no
inline event handlers (``static/front/actions.js`` binds what they did), no plugins, no
foreign frames, forms posting only here, and the pages framed by this site only. Styles may
be inline (``style=`` attributes, BokehJS). A response that set its own policy keeps it: the
bokeh product frame (``front.views.products.product_embed``) is ``sandbox allow-scripts``,
an opaque origin where a pilot's CustomJS may run but can reach nothing of the operator's.
"""

from __future__ import annotations

import secrets

from django.conf import settings

POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; frame-src 'self'; "
    "frame-ancestors 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
)


class ContentSecurityPolicy:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        if (
            not request.path.startswith("/api/")
            and response.get("Content-Type", "").startswith("text/html")
            and "Content-Security-Policy" not in response
        ):
            policy = settings.P3S.get("CSP", POLICY)
            if policy:
                response["Content-Security-Policy"] = policy.format(nonce=request.csp_nonce)
        return response
