"""What the routes need from the app, as typed dependencies: ``database: DatabaseDep`` in a
route's signature instead of reaching into ``request.app.state`` in its body.

No postponed annotations here: FastAPI reads these at import.
"""

from typing import Annotated

from fastapi import Depends

from backbeat.runtime.database import Database
from backbeat.runtime.http import from_app_state
from backbeat.tokens.service.connect import ConnectFlow
from backbeat.tokens.service.handout import AccessTokenDispenser
from backbeat.tokens.settings import TokensSettings

dispenser = from_app_state("dispenser", AccessTokenDispenser)

DatabaseDep = Annotated[Database, Depends(from_app_state("database", Database))]
SettingsDep = Annotated[TokensSettings, Depends(from_app_state("settings", TokensSettings))]
ConnectFlowDep = Annotated[ConnectFlow, Depends(from_app_state("connect_flow", ConnectFlow))]
DispenserDep = Annotated[AccessTokenDispenser, Depends(dispenser)]
