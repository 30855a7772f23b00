"""Backbeat auth: users and their sessions, access JWTs with a published key set, and the
client-credentials grant for internal services."""
