"""Package data: the page's Jinja templates, installed as ``attnscope_server.templates``."""
