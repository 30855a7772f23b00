"""Pure logic of the credentials vault: encryption, key rotation, refresh decisions."""
