"""Root conftest: nothing but plugin activation for runs from a source checkout.

The plugin is normally registered by the ``pytest11`` entry point of the installed package;
``pytest_plugins`` here is a no-op when it already is.
"""
