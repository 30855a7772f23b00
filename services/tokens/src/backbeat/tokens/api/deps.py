"""What the routes need from the app, as typed dependencies: ``database: DatabaseDep`` in a
route's signature instead of reaching into ``request.app.state`` in its body.

No postponed annotations here: FastAPI reads these at import.
"""

from typing import Annotated, cast

from fastapi import Depends, Request

from backbeat.runtime.database import Database
from backbeat.tokens.service.connect import ConnectFlow
from backbeat.tokens.service.handout import AccessTokenDispenser
from backbeat.tokens.settings import TokensSettings


def _database(request: Request) -> Database:
    return cast(Database, request.app.state.database)


def _settings(request: Request) -> TokensSettings:
    return cast(TokensSettings, request.app.state.settings)


def _connect_flow(request: Request) -> ConnectFlow:
    return cast(ConnectFlow, request.app.state.connect_flow)


def dispenser(request: Request) -> AccessTokenDispenser:
    return cast(AccessTokenDispenser, request.app.state.dispenser)


DatabaseDep = Annotated[Database, Depends(_database)]
SettingsDep = Annotated[TokensSettings, Depends(_settings)]
ConnectFlowDep = Annotated[ConnectFlow, Depends(_connect_flow)]
DispenserDep = Annotated[AccessTokenDispenser, Depends(dispenser)]
