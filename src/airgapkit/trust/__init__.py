"""Trust in what crosses the gap: who made a bundle (signing), what is in it (sbom), and which
settings the version inside needs (contract)."""
