"""Sphinx configuration of the softreg documentation.

Build with ``bash docs/build.sh`` (warnings are errors). Four things here
are specific to this project:

* intersphinx tries the live inventories of scikit-learn, numpy and scipy
  first and falls back to the small offline inventories in ``_intersphinx/``
  (see the README there), so a machine without network still builds with
  ``-W`` and still links the names the docs use;
* the performance page includes the benchmark table that
  ``python -m softreg bench`` writes into ``docs/`` when that file exists,
  and a placeholder note otherwise;
* the build fails if a public name of :mod:`softreg` or
  :mod:`softreg.normalizers` is missing from ``api.rst``;
* MathJax comes from the ``sphinx-mathjax-offline`` package and is copied
  into the site, so the math renders without network access.
"""

import os
import re
import warnings
from pathlib import Path

import softreg
import softreg.normalizers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# -- Project -----------------------------------------------------------------

project = "softreg"
author = "softreg developers"
copyright = "softreg developers"
release = softreg.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax 3 shipped with the package and copied into _static/mathjax:
    # the pages render their math without network access (offline readers,
    # an intranet copy of the site). It sets mathjax_path to that copy.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

templates_path = ["_templates"]
# Markdown is read only through explicit ``.. include::`` directives (the
# benchmark table); no Markdown file is a page of its own.
exclude_patterns = ["_build", "**.md", "_intersphinx", "_templates"]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"

# -- Theme -------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"softreg {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"changelog": []}
html_show_sourcelink = False

# -- autodoc, autosummary, numpydoc -------------------------------------------

autosummary_generate = True
autodoc_default_options = {}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Document only methods written in softreg.

    scikit-learn's inherited methods (``get_params``, ``set_params``,
    ``score``, the ``set_*_request`` routers) are documented by
    scikit-learn; their docstrings use labels of its own user guide, which
    this site cannot resolve. The API page says that they exist.
    """
    if what != "class" or skip:
        return skip
    if name.startswith("_") and name != "__call__":
        return True
    if callable(obj) or isinstance(obj, property):
        module = getattr(obj, "__module__", None) or ""
        if not module.startswith("softreg"):
            return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("builder-inited", _check_api_page)
    app.connect("builder-inited", _write_benchmark_include)


# -- intersphinx ---------------------------------------------------------------
# Each project lists its live inventory first and the offline subset second.
# Sphinx only warns when *every* location fails, so an offline build stays
# clean under -W; an online build uses the full live inventory.

intersphinx_mapping = {
    "numpy": (
        "https://numpy.org/doc/stable/",
        (None, "_intersphinx/numpy-subset.inv"),
    ),
    "scipy": (
        "https://docs.scipy.org/doc/scipy/",
        (None, "_intersphinx/scipy-subset.inv"),
    ),
    "sklearn": (
        "https://scikit-learn.org/stable/",
        (None, "_intersphinx/sklearn-subset.inv"),
    ),
}
intersphinx_timeout = 5
if os.environ.get("SOFTREG_DOCS_OFFLINE"):
    # Skip the network entirely: use the offline subsets only.
    intersphinx_mapping = {
        key: (url, locations[1])
        for key, (url, locations) in intersphinx_mapping.items()
    }

# -- sphinx-gallery --------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("softreg",),
    "backreferences_dir": "generated/backreferences",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "capture_repr": ("_repr_html_", "__repr__"),
}

# Examples run with a non-interactive backend and without noise from
# libraries' deprecation machinery; real warnings still show in the output.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings(
    "ignore", message="Matplotlib is currently using agg", category=UserWarning
)

# -- The API page must list every public name ----------------------------------------

_API_MODULES = (softreg, softreg.normalizers)


def _public_names():
    for module in _API_MODULES:
        for name in getattr(module, "__all__", ()):
            if name.startswith("__"):
                continue
            yield f"{module.__name__}.{name}"


def _check_api_page(app):
    from sphinx.util import logging

    logger = logging.getLogger("softreg.docs")
    text = (HERE / "api.rst").read_text(encoding="utf-8")
    listed = set()
    current = None
    for line in text.splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line.strip())
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^\s{3,}~?([A-Za-z_][\w.]*)\s*$", line)
        if m and current:
            listed.add(f"{current}.{m.group(1)}")
    missing = sorted(set(_public_names()) - listed)
    for name in missing:
        logger.warning("%s is public (in __all__) but not listed in docs/api.rst", name)


# -- The benchmark table of the performance page --------------------------------

#: The file ``python -m softreg bench --markdown docs/performance_table.md``
#: writes; the performance page shows a note instead while it is missing.
BENCHMARK_FILE = HERE / "performance_table.md"


def _write_benchmark_include(app):
    target = HERE / "generated" / "benchmark_table.rst.inc"
    target.parent.mkdir(parents=True, exist_ok=True)
    source = BENCHMARK_FILE
    if not source.is_file():
        body = (
            ".. note::\n\n"
            "   No benchmark table has been generated yet. Run\n"
            "   ``python -m softreg bench`` to produce one in ``docs/``; the\n"
            "   next documentation build includes it here.\n"
        )
    else:
        body = (
            f"The table below is read from ``docs/{source.name}``, as written by\n"
            "``python -m softreg bench``.\n\n"
            f".. include:: /{source.name}\n"
            "   :parser: myst_parser.sphinx_\n"
        )
    if not target.is_file() or target.read_text(encoding="utf-8") != body:
        target.write_text(body, encoding="utf-8")
