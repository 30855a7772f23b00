"""spotify_fake"""
