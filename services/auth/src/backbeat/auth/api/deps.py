"""What the routes need from the app, as typed dependencies: ``accounts: AccountsDep`` in a
route's signature instead of reaching into ``request.app.state`` in its body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from backbeat.auth.service.accounts import Accounts
from backbeat.auth.service.keyring import KeyRing
from backbeat.auth.service.service_tokens import ServiceTokens
from backbeat.auth.settings import AuthSettings
from backbeat.runtime.database import Database
from backbeat.runtime.http import from_app_state

AccountsDep = Annotated[Accounts, Depends(from_app_state("accounts", Accounts))]
SettingsDep = Annotated[AuthSettings, Depends(from_app_state("settings", AuthSettings))]
DatabaseDep = Annotated[Database, Depends(from_app_state("db", Database))]
KeyRingDep = Annotated[KeyRing, Depends(from_app_state("keyring", KeyRing))]
ServiceTokensDep = Annotated[
    ServiceTokens, Depends(from_app_state("service_tokens", ServiceTokens))
]
