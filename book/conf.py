"""Sphinx configuration of the course book (``make book``; see ecr_lab/book.py).

Sphinx + myst-nb + sphinx-book-theme, not Jupyter Book 2: that one is built on mystmd (Node), whose
site themes are downloaded at build time, so it cannot build offline. Everything here installs from
PyPI (``pip install -e ".[book]"``) and ships its own assets: the book builds and reads offline.
The notebooks arrive executed and made static by ``ecr_lab.book.build``; nothing runs here.
"""

project = "ecr_lab"
author = "ecr_lab maintainers"
copyright = "ecr_lab maintainers, Apache-2.0"
html_title = "ecr_lab: embedding collapse and ECR, the course"

extensions = [
    "myst_nb",        # .ipynb and Markdown (MyST) pages
    "ecr_lab.book",   # charts: the local vega bundle and the renderer of div.ecr-vega; book CSS
]

# the notebooks are executed (and their widgets made static) before Sphinx sees them
nb_execution_mode = "off"
nb_merge_streams = True
nb_render_markdown_format = "myst"   # Markdown outputs (glossary.show) link into the glossary like cells do
nb_ipywidgets_js = {}          # widget outputs are made static: never load the widget manager (a CDN)
myst_enable_extensions = ["colon_fence"]   # no dollarmath: math would load MathJax from a CDN
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

exclude_patterns = ["_build", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,   # the executed notebook, as the learner can download it
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "launch_buttons": {},
}
html_static_path: list[str] = []
html_last_updated_fmt = None
html_copy_source = True
html_context = {"default_mode": "light"}   # the charts are drawn for a light page
