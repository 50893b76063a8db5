"""VmError tree and VolumeFailureError: how VMs and their volumes fail, with wire codes.

```
AgentError (agent/errors.py)
├── VmError                       .code
│   ├── HypervisorUnavailableError    hypervisor_unavailable  cannot connect to libvirt
│   ├── VmNotFoundError               vm_not_found            no kvmcloud domain of that name
│   ├── InvalidVmCommandError         bad_command             bad name, size, path, timeout
│   └── VmFailureError                vm_failure              libvirt refused; its message kept
└── VolumeFailureError            volume_failure          qemu-img failed, volume clashes
```

Messages name the domain or the volume path and keep libvirt's or qemu-img's own words,
which are what an operator searches for.
"""

from kvmcloud.agent.errors import AgentError
from kvmcloud.protocol.error_codes import ErrorCode


class VmError(AgentError):
    """Base of the failures of VM commands."""

    code = ErrorCode.VM_FAILURE


class HypervisorUnavailableError(VmError):
    """libvirt cannot be reached (daemon down, wrong URI) or libvirt-python is missing."""

    code = ErrorCode.HYPERVISOR_UNAVAILABLE


class VmNotFoundError(VmError):
    """No domain of that name carries kvmcloud's metadata on this host."""

    code = ErrorCode.VM_NOT_FOUND


class InvalidVmCommandError(VmError):
    """A VM command carries a value that cannot be used: name, uuid, sizes, disks, timeout."""

    code = ErrorCode.BAD_COMMAND


class VmFailureError(VmError):
    """libvirt refused or failed the operation; the message is libvirt's."""

    code = ErrorCode.VM_FAILURE


class VolumeFailureError(AgentError):
    """A volume could not be created: qemu-img failed, or another volume has that name."""

    code = ErrorCode.VOLUME_FAILURE
