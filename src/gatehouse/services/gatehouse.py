"""All services of one Gatehouse node, wired together over one store."""

from __future__ import annotations

from gatehouse.services.members import Members
from gatehouse.services.organizations import Organizations
from gatehouse.services.passwords import Passwords
from gatehouse.services.rbac import Rbac
from gatehouse.services.runtime import Runtime, Settings
from gatehouse.services.sessions import Sessions
from gatehouse.services.signing import SigningKeys
from gatehouse.services.tenancy import Tenancy
from gatehouse.storage import Store


class Gatehouse:
    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.runtime = Runtime(store, settings)
        self.store = store
        self.keys = SigningKeys(store)
        self.tenancy = Tenancy(self.runtime)
        self.rbac = Rbac(self.runtime)
        self.organizations = Organizations(self.runtime)
        self.members = Members(self.runtime, self.organizations)
        self.sessions = Sessions(self.runtime, self.keys)
        self.passwords = Passwords(self.members, self.sessions)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings
