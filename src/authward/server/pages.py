"""How every HTML page of authward looks and which headers it carries (decision 051).

Pages are Jinja2 templates (``server/templates/``) with autoescaping on, each extending one
layout, ``base.html``. They need no JavaScript and load one stylesheet, served by
:meth:`Look.routes` from this server, so the Content-Security-Policy allows styles from
``'self'`` only and no script at all. The product name, logo and colours come from
:class:`Branding` (``AUTHWARD_UI_*``).
"""

from __future__ import annotations

__all__ = [
    "Branding",
    "Look",
    "Nav",
    "no_store_redirect",
]

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

#: A CSP source expression we can write safely (scheme, host, optional port).
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z")
#: Timeline bars are placed by classes in whole percent (no inline style, no per-page rule).
_STEPS = 100
_NONE = "'none'"


@dataclass(frozen=True, slots=True)
class Branding:
    """What an operator may change of every page; validated by ``Settings`` at load."""

    product_name: str = "authward"
    logo_url: str | None = None
    primary_color: str = "#1f5fbf"
    header_color: str = "#1d2330"


@dataclass(frozen=True, slots=True)
class Nav:
    """The signed-in user a page is shown to, and which section of the navigation it is in."""

    username: str
    admin: bool
    section: str = ""


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    except ValueError:
        return None
    return origin if _ORIGIN.match(origin) else None


def _stylesheet(branding: Branding) -> bytes:
    base = files("authward.server").joinpath("templates/authward.css").read_text("utf-8")
    root = f":root{{--primary:{branding.primary_color};--header:{branding.header_color}}}\n"
    bars = "".join(f".l{i}{{margin-left:{i}%}}" for i in range(_STEPS))
    bars += "".join(f".w{i}{{width:{i}%}}" for i in range(1, _STEPS + 1))
    return (root + base + bars + "\n").encode()


class Look:
    """The template environment, the stylesheet and the security headers of every page."""

    def __init__(self, branding: Branding | None = None) -> None:
        self.branding = branding or Branding()
        self.env = Environment(
            loader=PackageLoader("authward.server", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._css = _stylesheet(self.branding)
        digest = hashlib.sha256(self._css).hexdigest()[:16]
        self.stylesheet_url = f"/assets/authward.{digest}.css"
        logo = self.branding.logo_url
        self._img_src = "'self'" if logo is None or logo.startswith("/") else _origin(logo)
        self.env.globals.update(brand=self.branding, stylesheet=self.stylesheet_url)

    # -- headers -------------------------------------------------------------------------------

    def headers(self, form_targets: Iterable[str] = ()) -> dict[str, str]:
        """Security headers for a page. ``form_targets``: where a form submitted from the page
        may be redirected to (Chrome applies ``form-action`` to every redirect that follows a
        submission, so the consent form's 303 to the client needs the client's origin listed)."""
        targets = ["'self'", *sorted({o for t in form_targets if (o := _origin(t))})]
        csp = (
            "default-src 'none'; style-src 'self'; "
            f"img-src {self._img_src or _NONE}; "
            f"form-action {' '.join(targets)}; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return {
            "Content-Security-Policy": csp,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }

    # -- pages ---------------------------------------------------------------------------------

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def page(
        self,
        template: str,
        *,
        title: str,
        status: int = 200,
        form_targets: Iterable[str] = (),
        nav: Nav | None = None,
        refresh: int | None = None,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        content = self.render(template, title=title, nav=nav, refresh=refresh, **context)
        all_headers = self.headers(form_targets)
        all_headers.update(headers or {})
        return HTMLResponse(content, status_code=status, headers=all_headers)

    def message(
        self, heading: str, message: str, *, status: int = 400, nav: Nav | None = None
    ) -> HTMLResponse:
        return self.page(
            "message.html", title=heading, status=status, nav=nav, heading=heading, message=message
        )

    # -- the stylesheet ------------------------------------------------------------------------

    async def _stylesheet(self, _: Request) -> Response:
        return Response(
            self._css,
            media_type="text/css; charset=utf-8",
            headers={
                "Cache-Control": "public, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def routes(self) -> list[BaseRoute]:
        """The stylesheet, at a path that changes with its content (so it may be cached)."""
        return [Route(self.stylesheet_url, self._stylesheet, methods=["GET"])]


def no_store_redirect(url: str) -> RedirectResponse:
    """A 303 (so a POST becomes a GET) that no cache keeps and that leaks no referrer."""
    return RedirectResponse(
        url,
        status_code=303,
        headers={
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
            "Referrer-Policy": "no-referrer",
        },
    )
