"""The B2B side, Stytch's B2B API: organizations, members, passwords, sessions, checks, the
project and organization RBAC policies, and the default-resource enforcement of member sessions.
Callers are `Caller`s (an environment, and a member session when one is presented)."""
