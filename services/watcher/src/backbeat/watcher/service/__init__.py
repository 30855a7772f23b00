"""The poll loop: who is due, the budget, one poll folded into events (scheduler), and where
users' access tokens come from (access_tokens)."""
