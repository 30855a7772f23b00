"""The tokens service layer: storing credentials and handing out fresh access tokens."""
