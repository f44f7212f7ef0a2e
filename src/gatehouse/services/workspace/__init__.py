"""The workspace side, the Management API and the dashboard: people and their dashboard roles,
sign-in, projects and environments, and the support actions. Callers are `Operator`s, held to the
one dashboard permission matrix (`gatehouse.policy.dashboard`)."""
