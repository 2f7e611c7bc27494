"""The crossing: AES-256 archives, hashes, passwords, the three channels and the bundle."""
