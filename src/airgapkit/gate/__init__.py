"""The image rules: size, Node LTS, vulnerabilities, non-root, no secrets in layers."""
