"""Setting a machine up: the home (`init`), the OS service, `doctor`."""
