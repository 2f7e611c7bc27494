"""The composite flows of the procedure: export, release, deploy."""
