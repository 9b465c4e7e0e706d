"""Search methods: one file each, named in :data:`nasharness.plugins.METHODS` (the built-ins' table of
``module:Class`` references). A method meets :class:`nasharness.contracts.Method`; to add a built-in one, write
``methods/<name>.py`` and add its reference to that table. Outside methods need no edit here: see ``docs/plugins.md``.
Nothing is imported with this package (``nasharness.methods.base`` and the registry stay free of torch)."""
