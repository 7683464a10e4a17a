"""The front ends: thin adapters over one service call each (command line, HTTP, Discord)."""
