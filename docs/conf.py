"""Sphinx configuration for the kernel user guide (``make docs``)."""

project = "kernel"
author = "the kernel developers"
# myst_nb reads the markdown chapters (it is myst_parser underneath) and the example
# notebooks, which it runs at build time: the notebooks are kept without outputs, and the
# pages show what they printed in this build (docs/examples/quickstart.ipynb starts a
# cluster of its own).
extensions = ["myst_nb"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]
