"""Installable package for kernel: a capability-secured parallel computing cluster."""

from setuptools import find_packages, setup

setup(
    name="kernel",
    version="0.1.0",
    description="A capability-secured parallel computing cluster in the model of IPython.kernel",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # IPython.kernel (legacy/IPython/kernel) makes `from IPython.kernel import client` work;
    # IPython itself is never installed, so a real IPython beside it is left as it is.
    packages=find_packages(include=["kernel", "kernel.*"]) + ["IPython.kernel"],
    package_dir={"IPython.kernel": "legacy/IPython/kernel"},
    # The tested ranges: requirements/lock.txt pins what `make test` installs, and
    # `make test-latest` tries the newest releases, past these upper bounds.
    install_requires=[
        "twisted>=24.7,<27",
        "cryptography>=42,<52",
        "cloudpickle>=3.0,<4",
        "numpy>=1.26,<3",
    ],
    extras_require={
        "magic": ["ipython>=8,<10"],
        "plot": ["matplotlib>=3.5,<4"],
        "progress": ["tqdm>=4,<5"],
        "joblib": ["joblib>=1.3,<2"],
        "notebook": ["ipython>=8,<10", "ipywidgets>=8,<9", "tqdm>=4,<5", "matplotlib>=3.5,<4"],
        "test": ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100", "ipython>=8,<10", "mpi4py>=3.1",
                 "sphinx>=7", "myst-parser>=2", "matplotlib>=3.5,<4", "tqdm>=4,<5",
                 "joblib>=1.3,<2", "scikit-learn>=1.3,<2",
                 "nbclient>=0.10,<1", "nbformat>=5.9,<6", "ipykernel>=6.29,<8", "ipywidgets>=8,<9",
                 "myst-nb>=1.1,<2"],
        "bench": ["ipyparallel>=8", "distributed>=2024.1", "ray>=2.60"],
    },
    scripts=["scripts/ipcontroller", "scripts/ipengine", "scripts/ipcluster"],
)
