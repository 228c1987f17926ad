"""Root conftest: marks the repository root for pytest, and holds nothing else.

The harness plugin (:mod:`harness.plugin`: ``--rig``, the ``rig``/``hub`` fixtures, the markers, the
rig check, the evidence) is active through the ``pytest11`` entry point of the installed package
(``pip install -e '.[test]'``), not from here. This file's one effect is that pytest's default
``prepend`` import mode puts the repository root on ``sys.path``, so ``import harness`` finds this
checkout. Fixtures belong to the plugin (every harness project) or to
``tests/conformance/conftest.py`` (the conformance suite).
"""
