"""The one look of every page (decision 051): branding from settings, validated at load;
autoescaped templates; one stylesheet served by the server and allowed by a strict CSP."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authward.errors import SettingsError
from authward.server.pages import Branding, Look, Nav
from authward.settings import load_settings


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("ui_primary_color", "red", "AUTHWARD_UI_PRIMARY_COLOR"),
        ("ui_header_color", "#12345", "AUTHWARD_UI_HEADER_COLOR"),
        ("ui_logo_url", "http://logo.example/a.png", "AUTHWARD_UI_LOGO_URL"),
        ("ui_logo_url", "javascript:alert(1)", "AUTHWARD_UI_LOGO_URL"),
        ("ui_logo_url", "//evil.example/x.png", "AUTHWARD_UI_LOGO_URL"),
        ("ui_product_name", "", "AUTHWARD_UI_PRODUCT_NAME"),
        ("ui_product_name", "x" * 65, "AUTHWARD_UI_PRODUCT_NAME"),
    ],
)
def test_branding_mistakes_fail_at_load_naming_the_field(
    field: str, value: str, variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(**{field: value})


def test_branding_accepted() -> None:
    settings = load_settings(
        ui_product_name="Acme ID",
        ui_logo_url="https://cdn.acme.example/logo.svg",
        ui_primary_color="#AA3300",
    )
    assert settings.ui_product_name == "Acme ID"
    assert load_settings(ui_logo_url="/static/logo.png").ui_logo_url == "/static/logo.png"


async def _get(look: Look, path: str) -> httpx.Response:
    async def page(_: Request) -> Response:
        return look.message(
            "Hello <b>", "long " + "x" * 300 + " 🦄", status=200, nav=Nav("ada<i>", admin=True)
        )

    app = Starlette(routes=[Route("/page", page), *look.routes()])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        return await client.get(path)


async def test_pages_are_branded_escaped_and_styled_only_from_the_server() -> None:
    look = Look(
        Branding(
            product_name="Acme <ID>",
            logo_url="https://cdn.acme.example/logo.svg",
            primary_color="#aa3300",
        )
    )
    page = await _get(look, "/page")
    html = page.text
    assert "<title>Hello &lt;b&gt; · Acme &lt;ID&gt;</title>" in html
    assert "ada&lt;i&gt;" in html
    assert "<i>" not in html
    assert '<img src="https://cdn.acme.example/logo.svg"' in html
    assert "<style" not in html
    assert "style=" not in html
    assert "<script" not in html
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "style-src 'self';" in csp
    assert "img-src https://cdn.acme.example;" in csp
    assert "script-src" not in csp
    # The admin's navigation reaches every section.
    for href in ("/console/users", "/console/audit", "/dashboard", "/account"):
        assert f'href="{href}"' in html

    sheet_url = look.stylesheet_url
    assert f'<link rel="stylesheet" href="{sheet_url}">' in html
    sheet = await _get(look, sheet_url)
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("text/css")
    assert "--primary:#aa3300" in sheet.text
    assert "overflow-wrap:anywhere" in sheet.text  # long ids and emoji wrap
    # Another colour is another stylesheet at another address (cached forever by browsers).
    assert Look(Branding(primary_color="#000000")).stylesheet_url != sheet_url


async def test_without_a_logo_images_come_from_nowhere_else() -> None:
    page = await _get(Look(), "/page")
    assert "img-src 'self';" in page.headers["content-security-policy"]
    assert "<img" not in page.text
    assert "· authward</title>" in page.text
