"""What the routes need from the app, as typed dependencies: ``accounts: AccountsDep`` in a
route's signature instead of reaching into ``request.app.state`` in its body."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from backbeat.auth.service.accounts import Accounts
from backbeat.auth.service.keyring import KeyRing
from backbeat.auth.service.service_tokens import ServiceTokens
from backbeat.auth.settings import AuthSettings
from backbeat.runtime.database import Database


def accounts(request: Request) -> Accounts:
    return cast(Accounts, request.app.state.accounts)


def settings(request: Request) -> AuthSettings:
    return cast(AuthSettings, request.app.state.settings)


def database(request: Request) -> Database:
    return cast(Database, request.app.state.db)


def keyring(request: Request) -> KeyRing:
    return cast(KeyRing, request.app.state.keyring)


def service_tokens(request: Request) -> ServiceTokens:
    return cast(ServiceTokens, request.app.state.service_tokens)


AccountsDep = Annotated[Accounts, Depends(accounts)]
SettingsDep = Annotated[AuthSettings, Depends(settings)]
DatabaseDep = Annotated[Database, Depends(database)]
KeyRingDep = Annotated[KeyRing, Depends(keyring)]
ServiceTokensDep = Annotated[ServiceTokens, Depends(service_tokens)]
