"""The hub's server faces: how callers reach the hub."""
