"""HTTP routes of the tokens service."""
