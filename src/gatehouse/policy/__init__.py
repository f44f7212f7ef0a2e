"""The policy engine: model, defaults, parsing, validation, compilation and decisions.

Pure: imports nothing from storage, services, api, sqlalchemy or starlette (a test guards this).
"""

from gatehouse.policy.compiled import CompiledPolicy, Decision, compile_policy
from gatehouse.policy.defaults import DEFAULT_RESOURCES, DEFAULT_ROLES, default_policy
from gatehouse.policy.document import (
    org_policy_from_wire,
    org_policy_to_wire,
    policy_from_file,
    policy_from_wire,
    policy_to_file,
    policy_to_wire,
)
from gatehouse.policy.model import (
    WILDCARD,
    OrgPolicy,
    Permission,
    Policy,
    PolicyProblems,
    Problem,
    Resource,
    Role,
    Scope,
)
from gatehouse.policy.validate import validate_org_policy, validate_policy

__all__ = [
    "DEFAULT_RESOURCES",
    "DEFAULT_ROLES",
    "WILDCARD",
    "CompiledPolicy",
    "Decision",
    "OrgPolicy",
    "Permission",
    "Policy",
    "PolicyProblems",
    "Problem",
    "Resource",
    "Role",
    "Scope",
    "compile_policy",
    "default_policy",
    "org_policy_from_wire",
    "org_policy_to_wire",
    "policy_from_file",
    "policy_from_wire",
    "policy_to_file",
    "policy_to_wire",
    "validate_org_policy",
    "validate_policy",
]
