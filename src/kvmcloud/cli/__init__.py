"""The ``kvmcloud`` command line: signed CloudStack API calls, job polling, progress."""
