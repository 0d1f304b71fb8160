"""The reference monitor: hook table, subjects and objects, the module stack and its AVC."""
