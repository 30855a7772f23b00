"""spotify"""
