"""Gather -> core -> act orchestration, one module per job."""
