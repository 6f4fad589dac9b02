"""Package data: the page's JavaScript, CSS and icon, installed as ``attnscope.static`` (read with importlib.resources)."""
