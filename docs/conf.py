"""Sphinx configuration for the sklearn-audioconcepts documentation.

Build from the repository root (the Makefile's ``docs`` target)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build runs offline: no intersphinx, the pydata-sphinx-theme of the
scientific Python ecosystem (installed with the ``docs`` extra), and every
gallery example uses generated data on the CPU.
"""

import os
import warnings

import torch

import sklearn_audioconcepts

# -- Project information -----------------------------------------------------

project = "sklearn-audioconcepts"
author = "sklearn-audioconcepts developers"
copyright = "2025, sklearn-audioconcepts developers"
release = sklearn_audioconcepts.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ---------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary ---------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"

# -- numpydoc ----------------------------------------------------------------

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Light validation: the parameters a docstring lists must match the signature.
# Methods inherited from scikit-learn are not documented here, hence not checked.
numpydoc_validation_checks = {"PR02", "PR10"}


# -- sphinx-gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Run every example, not only those named plot_*.
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" at the bottom of each API page.
    "doc_module": ("sklearn_audioconcepts",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "reference_url": {"sklearn_audioconcepts": None},
    "remove_config_comments": True,
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "download_all_examples": False,
}

# Examples run in this process: a non-interactive matplotlib backend, and no
# noise from matplotlib's font cache on a fresh machine.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is building the font cache")
# The solver issues many small torch operations; on a shared machine (the docs
# build runs right after the tests in ``make test``) several torch threads per
# operation oversubscribe the cores and slow it down several times. One thread
# keeps the gallery's run time predictable; DOCS_TORCH_THREADS overrides it.
torch.set_num_threads(int(os.environ.get("DOCS_TORCH_THREADS", "1")))

# -- HTML output -------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"{project} {release}"
# Single pages with no sub-pages: no empty "Section Navigation" column,
# which leaves the wide tables (models, benchmarks) room to show whole.
html_sidebars = {page: [] for page in ("user_guide", "reproducing", "glossary")}
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # No icons or version switcher: both would fetch from the network.
    "icon_links": [],
}
html_show_sourcelink = False
