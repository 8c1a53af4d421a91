"""Seeded deterministic simulator for the PBFT core (virtual network, clock and shells)."""
