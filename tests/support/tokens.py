"""Token-shaped values for the tests of secret detection."""

# Values in well-known token formats, assembled here so that no token-shaped literal sits in the
# repository (a secret scanner would rightly flag it).
TOKENS = {
    "STRIPE": "sk_" + "live_" + "51HvQ2tK8z9aBcDeFgHiJkLmN",
    "GITHUB": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "AWS": "AKIA" + "IOSFODNN7EXAMPLE",
    "SLACK": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "SESSION_SAMPLE": "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    "GITLAB": "glpat-" + "abcdefghij1234567890",
}
