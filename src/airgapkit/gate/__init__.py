"""The image rules: size, Node LTS, vulnerabilities, non-root, no secrets in layers.

- ``facts``: what the rules judge about a local image (``imagefacts.ImageFacts``), from the engine.
- ``rules``: one function per rule, data in and ``RuleResult`` out; ``judge`` runs them all.
- ``limits``: the policy limits, their defaults (one definition) and their checking.
- ``schedule``: the Node.js release schedule (``NodeRelease``), packaged or configured.
- ``scanreports``: Trivy and Grype JSON reports, counted by CVSS v3.1 severity.
- ``layerscan``: env files and private keys in the layers of a ``docker save`` stream.
- ``checkpoint``: the gate on a local image (evaluate, show, stop or record the accepted risk).
- ``candidates``: several base images judged and ranked (``inv choose-base``).
- ``render``: every table the gate shows.
"""
