"""AgentError, the base of every failure answered with a wire code, and the shared failures.

```
AgentError                        .code (protocol/error_codes.py)
├── BadCommandError               bad_command: the command itself is invalid
├── PoolUnavailableError          pool_unavailable: pool path missing, not a dir, read-only
├── PoolFileMismatchError         source_not_found: a pool file to read is absent or changed
├── DownloadError                 downloads/errors.py: transfers and the images they bring
├── VmError                       vms/errors.py: libvirt and the domains it runs
├── VolumeFailureError            vms/errors.py: qemu-img could not make a volume
└── CertificateError              certificates.py: the HTTPS trust store
    ├── CertificateRejectedError  certificate_rejected: bad alias or not one certificate
    └── CertificateStoreError     internal: the store's directory cannot be read or written
```

``BadCommandError`` and ``PoolUnavailableError`` live here because pools, downloads, VM
volumes and start-up recovery all raise them.

``handlers.CommandHandlers.execute`` turns an AgentError into ``Answer(ok=False)`` with its
code and message; anything else becomes ``internal`` with a logged traceback.
"""

from kvmcloud.protocol.error_codes import ErrorCode


class AgentError(Exception):
    """Base of every failure the agent reports; ``code`` is what goes on the wire."""

    code: ErrorCode = ErrorCode.INTERNAL


class BadCommandError(AgentError):
    """The command is invalid (bad install name, malformed checksum, …)."""

    code = ErrorCode.BAD_COMMAND


class PoolUnavailableError(AgentError):
    """The pool's directory is missing, not a directory, or not writable."""

    code = ErrorCode.POOL_UNAVAILABLE


class PoolFileMismatchError(AgentError):
    """A pool file to read is not there, or is not the regular file of the size recorded."""

    code = ErrorCode.SOURCE_NOT_FOUND
