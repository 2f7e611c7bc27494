"""The names each system's module of ``airgapkit.platform`` defines (posix.py, windows.py)."""

NAMES = (
    "SYSTEM",
    "SHELL",
    "BINARY",
    "NOFOLLOW",
    "PRIVATE",
    "open_nohang",
    "pread",
    "pwrite",
    "set_mode",
    "private_folder",
    "loose_mode",
    "private_command",
    "user_key",
    "owns",
    "dies_with_parent",
    "quote",
    "join",
)
