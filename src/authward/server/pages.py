"""The HTML of the login, consent and sign-out pages, and the headers every one of them carries.

Templates are :class:`string.Template` strings; :func:`render` HTML-escapes every value except
:class:`Html` made by another :func:`render` call, so nothing user- or client-supplied reaches a
page unescaped. The pages need no JavaScript and load nothing: the one stylesheet is inline and
allowed by its hash in a strict Content-Security-Policy.
"""

from __future__ import annotations

__all__ = [
    "Html",
    "html_page",
    "no_store_redirect",
    "page_headers",
    "render",
]

import base64
import hashlib
import html
import re
from collections.abc import Iterable
from string import Template
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse, RedirectResponse


class Html(str):
    """Markup that is already safe to put in a page."""

    __slots__ = ()


def render(template: Template, **values: str | Html) -> Html:
    return Html(
        template.substitute(
            {k: v if isinstance(v, Html) else html.escape(v, quote=True) for k, v in values.items()}
        )
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}"
    "main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 4px rgba(0,0,0,.12)}"
    "h1{font-size:1.4rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}"
    "input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem}"
    "button{margin-top:1rem;padding:.55rem 1rem;font-size:1rem}"
    ".alert{color:#a4161a}.muted{color:#5b6170}ul{padding-left:1.2rem}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()

_LAYOUT = Template(
    "<!doctype html>\n"
    '<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="referrer" content="no-referrer">'
    "<title>$title</title><style>$css</style></head>\n"
    "<body><main>\n$body\n</main></body></html>\n"
)
#: A CSP source expression we can write safely (scheme, host, optional port).
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z")


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    except ValueError:
        return None
    return origin if _ORIGIN.match(origin) else None


def page_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """Security headers for a page. ``form_targets``: where a form submitted from the page may be
    redirected to (Chrome applies ``form-action`` to every redirect that follows a submission,
    so the consent form's 303 to the client needs the client's origin listed)."""
    targets = ["'self'", *sorted({o for t in form_targets if (o := _origin(t))})]
    csp = (
        "default-src 'none'; "
        f"style-src 'sha256-{_STYLE_HASH}'; "
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


def html_page(
    title: str, body: Html, *, status: int = 200, form_targets: Iterable[str] = ()
) -> HTMLResponse:
    content = render(_LAYOUT, title=title, css=Html(_CSS), body=body)
    return HTMLResponse(content, status_code=status, headers=page_headers(form_targets))


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
