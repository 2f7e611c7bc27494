"""Deltas: a bundle that carries only what the far side does not hold yet (``--since``).

- ``plan``: the previous delivery (``last`` in the history, or a bundle's manifest), and what a new
  bundle can leave out: the base image the far side has (same ID), the app layers it has.
- ``tars``: ``docker save`` archives as streams, with layers left out or put back.
- ``apply``: the far side: prerequisites checked by image ID before anything is decrypted, a
  complete image archive streamed into ``docker load``, the loaded image's ID checked.
"""
