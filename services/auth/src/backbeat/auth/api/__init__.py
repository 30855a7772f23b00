"""Auth's HTTP routes and their request and response models."""
