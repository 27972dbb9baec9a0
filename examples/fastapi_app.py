"""A FastAPI app of your own with authward inside it, served by uvicorn (docs/your-own-app.md).

    AUTHWARD_PORT=8001 .venv/bin/uvicorn examples.fastapi_app:app --port 8001
    TOKEN=$(.venv/bin/authward machineuser token reports-admin --app examples/fastapi_app.py)
    curl -s http://127.0.0.1:8001/me -H "Authorization: Bearer $TOKEN"

AUTHWARD_PORT (or AUTHWARD_ISSUER) is the address uvicorn serves, which is the token issuer.
The database is ./authward-fastapi_app.db unless AUTHWARD_DATABASE_URL names another.
Open http://127.0.0.1:8001/docs and use the Authorize button with a token or an API key.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Security

from authward import Principal, db, define_auth, define_config
from authward.embed import AuthwardApp

user = db.type(
    "User",
    {"email": db.string().unique(), "role": db.enum(["ADMIN", "READER"]), **db.fields.timestamps()},
)
auth = define_auth(
    "reports-api",
    user_profile={"type": user, "username_field": "email", "attributes": {"role": True}},
    machine_users={
        "reports-admin": {"attributes": {"role": "ADMIN"}},
        "reports-reader": {"attributes": {"role": "READER"}},
    },
)
# The app's config: `authward ... --app examples/fastapi_app.py` reads it too.
config = define_config(auth=auth, db=[user])

# Nothing opens at import; the routes below find authward once the lifespan has opened it.
aw = AuthwardApp(config, app_file=__file__, accepts_token=["oauth_token", "api_key"])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with aw:  # migrations (SQLite), the config, this server's issuer, jobs
        yield  # closed when uvicorn stops: audit rows written, database closed


app = FastAPI(title="Reports", lifespan=lifespan)
aw.install(app)  # /oauth2/token, /.well-known/jwks.json, /login, ... beside the routes below

Caller = Annotated[Principal, Security(aw.principal())]
Admin = Annotated[Principal, Security(aw.principal(attribute={"role": "ADMIN"}))]

REPORTS = {"q1": "revenue up", "q2": "revenue flat", "q3": "revenue down"}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}  # public: no Security dependency


@app.get("/me")
async def me(principal: Caller) -> dict[str, Any]:
    return {
        "principal_id": principal.principal_id,
        "principal_type": principal.principal_type,
        "attributes": dict(principal.attributes),
    }


@app.get("/reports")
async def list_reports(principal: Caller) -> list[str]:
    return sorted(REPORTS)


@app.delete("/reports/{name}")
async def delete_report(name: str, principal: Admin) -> dict[str, str]:
    return {"deleted": name} if name in REPORTS else {"missing": name}
