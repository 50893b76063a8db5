"""AgentError: the base of every failure the agent answers with a wire code.

```
AgentError                        .code (protocol/error_codes.py)
├── DownloadError                 downloads/errors.py: transfers, pools, malformed commands
├── VmError                       vms/errors.py: libvirt and the domains it runs
├── VolumeFailureError            vms/errors.py: qemu-img could not make a volume
└── CertificateError              certificates.py: the HTTPS trust store
    ├── CertificateRejectedError  certificate_rejected: bad alias or not one certificate
    └── CertificateStoreError     internal: the store's directory cannot be read or written
```

``handlers.CommandHandlers.execute`` turns an AgentError into ``Answer(ok=False)`` with its
code and message; anything else becomes ``internal`` with a logged traceback.
"""

from kvmcloud.protocol.error_codes import ErrorCode


class AgentError(Exception):
    """Base of every failure the agent reports; ``code`` is what goes on the wire."""

    code: ErrorCode = ErrorCode.INTERNAL
