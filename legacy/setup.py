"""The legacy import path ``IPython.kernel``, as a separate tiny distribution.

It installs only ``IPython/kernel/__init__.py`` (never ``IPython/__init__.py``),
so it adds one subpackage beside a real IPython and changes nothing else
about it; without IPython, ``IPython`` is a namespace holding only ``kernel``.
"""

from setuptools import setup

setup(
    name="kernel-legacy-import",
    version="0.1.0",
    description="Makes `from IPython.kernel import client` import kernel.client",
    packages=["IPython.kernel"],
    install_requires=["kernel"],
)
