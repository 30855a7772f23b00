"""The fake's pure core: catalogue, players, simulated listeners, grants, rate limits, faults.

Nothing here does I/O or knows about HTTP; every function takes the current time as an argument.
"""
