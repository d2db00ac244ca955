"""Headers every page goes out with: a strict Content-Security-Policy (everything from this
origin, nothing inline, no frames), and no referrer sent to other sites.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware), so streamed answers (the agents'
event stream, export downloads) pass through untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
HEADERS = (
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


class PageHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(
                    name == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                ):
                    present = {name for name, _ in headers}
                    headers.extend(h for h in HEADERS if h[0] not in present)
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
