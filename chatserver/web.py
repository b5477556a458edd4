"""The browser client's pages and static files (clients/web), with strict security headers."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import clients
from chatserver.hosts import page_csp

WEB_DIR = Path(clients.__file__).parent / "web"

# No inline scripts or styles anywhere: everything the page runs comes from /static. A page
# may connect to its own origin and the allowed ones (chatserver.hosts.page_csp); static
# files load nothing, so theirs is the same policy without WebSocket sources.
SECURITY_HEADERS = {
    "Content-Security-Policy": page_csp(None, []),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _page_headers(request: Request) -> dict[str, str]:
    origins = request.app.state.bridge.settings.origins
    return {**SECURITY_HEADERS, "Content-Security-Policy": page_csp(request.headers.get("host"), origins)}


async def index(request: Request) -> Response:
    page = WEB_DIR / "index.html"
    if not page.exists():
        return Response("LiveBridge is running. The browser client is not installed.\n",
                        media_type="text/plain", headers=_page_headers(request))
    return FileResponse(page, headers={**_page_headers(request), "Cache-Control": "no-cache"})


async def admin_page(request: Request) -> Response:
    """The admin console: the page itself is public (it holds nothing); it asks for an admin
    token and every /api/admin route checks it."""
    return FileResponse(WEB_DIR / "admin.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


class _SecureStatic(StaticFiles):
    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def routes() -> list:
    return [
        Route("/", index),
        Route("/r/{room}", index),
        Route("/admin", admin_page),
        Mount("/static", app=_SecureStatic(directory=WEB_DIR, check_dir=False), name="static"),
    ]
