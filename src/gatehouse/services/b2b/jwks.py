"""The JWKS an environment publishes (`GET /v1/b2b/sessions/jwks/{project_id}`), served from the
node's memory.

Anyone may fetch it, so a warm node answers without the database: `warm` from memory on the event
loop (None on a miss), else `load` in a thread, which reads the keys and remembers them. The change
feed drops them with any change to the environment (a signing key added is one). Each key set
carries a weak entity tag, so clients and proxies can revalidate it for nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gatehouse.services.b2b.sessions import Sessions
from gatehouse.services.context import KeySet
from gatehouse.services.node.runtime import Runtime


def _etag(keys: tuple[dict[str, Any], ...]) -> str:
    canonical = json.dumps(keys, sort_keys=True, separators=(",", ":"))
    return 'W/"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


class PublicKeys:
    def __init__(self, runtime: Runtime, sessions: Sessions) -> None:
        self.runtime = runtime
        self.sessions = sessions

    def warm(self, environment_id: str) -> KeySet | None:
        """The key set from this node's memory alone, or None."""
        return self.runtime.cache.jwks(environment_id)

    def load(self, environment_id: str) -> KeySet:
        """The key set from the database, remembered for the next call; NotFound (the wire's
        unknown `project_id`) for an unknown environment, which is not remembered."""
        cache = self.runtime.cache
        generation = cache.generation
        keys = tuple(self.sessions.jwks(environment_id))
        key_set = KeySet(keys, _etag(keys))
        cache.put_jwks(generation, environment_id, key_set)
        return key_set
