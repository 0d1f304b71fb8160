"""`selinux`: type enforcement, RBAC and MLS from CIL or a kernel binary policy, through the AVC."""
