"""Windows ACLs through pywin32 (a dependency of airgapkit, and of the docker SDK, on Windows).

``restrict_to_owner`` replaces a file's or folder's ACL with one entry: full control for the user
running airgapkit, nothing inherited from the folder above; a folder passes it on to what is made
in it. ``owned_by_me`` compares a path's owner with this user (or with the owner an administrator's
new files get: the Administrators group).

pywin32 is imported when first needed, so this module imports on any system.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AirgapError


def restrict_to_owner(path: Path) -> None:
    """Let this user alone read or change ``path``."""
    ntsecuritycon, win32security = _modules("ntsecuritycon", "win32security")
    user, _ = _token_owners()
    inherit = win32security.OBJECT_INHERIT_ACE | win32security.CONTAINER_INHERIT_ACE
    dacl = win32security.ACL()
    dacl.AddAccessAllowedAceEx(
        win32security.ACL_REVISION,
        inherit if Path(path).is_dir() else 0,
        ntsecuritycon.FILE_ALL_ACCESS,
        user,
    )
    info = win32security.DACL_SECURITY_INFORMATION
    info |= win32security.PROTECTED_DACL_SECURITY_INFORMATION  # nothing inherited from above
    _set_dacl(path, info, dacl)


def _set_dacl(path: Path, info: int, dacl) -> None:
    (win32security,) = _modules("win32security")
    try:
        win32security.SetNamedSecurityInfo(
            str(path), win32security.SE_FILE_OBJECT, info, None, None, dacl, None
        )
    except Exception as exc:  # pywintypes.error
        raise AirgapError(
            f"could not set who may read {path} (its ACL): {exc}; check that you may change "
            "its permissions there, or choose another folder"
        ) from exc


def inherit_from_folder(path: Path) -> None:
    """Give ``path`` the ACL its folder passes on again, and nothing of its own."""
    (win32security,) = _modules("win32security")
    info = win32security.DACL_SECURITY_INFORMATION
    info |= win32security.UNPROTECTED_DACL_SECURITY_INFORMATION
    _set_dacl(path, info, win32security.ACL())


def owned_by_me(path: Path) -> bool:
    (win32security,) = _modules("win32security")
    found = win32security.GetNamedSecurityInfo(
        str(path), win32security.SE_FILE_OBJECT, win32security.OWNER_SECURITY_INFORMATION
    )
    return found.GetSecurityDescriptorOwner() in _token_owners()


def _token_owners() -> tuple:
    """This process's user, and the owner its new files get (the same, or Administrators)."""
    win32api, win32con, win32security = _modules("win32api", "win32con", "win32security")
    token = win32security.OpenProcessToken(win32api.GetCurrentProcess(), win32con.TOKEN_QUERY)
    try:
        user = win32security.GetTokenInformation(token, win32security.TokenUser)[0]
        owner = win32security.GetTokenInformation(token, win32security.TokenOwner)
    finally:
        token.Close()
    return user, owner


def _modules(*names: str) -> tuple:
    import importlib

    try:
        return tuple(importlib.import_module(name) for name in names)
    except ImportError as exc:
        raise AirgapError(
            f"pywin32 is not installed ({exc}); airgapkit keeps secret files private with it on "
            "Windows: pip install pywin32"
        ) from exc
