"""RBD errors the agent raises: a failed rbd/ceph/qemu-img call, an image still in use."""


class RbdError(Exception):
    """An RBD operation failed; the text says which and why (never with the cephx key)."""


class RbdImageNotFoundError(RbdError):
    """The image or snapshot does not exist."""


class RbdImageExistsError(RbdError):
    """An image of that name exists already."""


class RbdImageInUseError(RbdError):
    """A template image still has clones (VM disks) depending on one of its snapshots."""

    def __init__(self, message: str, children: list[str]) -> None:
        super().__init__(message)
        self.children = children


class RbdStreamRestartError(RbdError):
    """A source asked to start over; bytes already fed to ``rbd import -`` cannot be unsent.

    The transfer fails and is retried from the top, into a new temporary image.
    """
