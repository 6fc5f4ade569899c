"""How tokens travel between clients and this service: `bearer.py` (the Authorization header
and JSON bodies) or `cookies.py` (HttpOnly cookies for browsers, with CSRF protection; it
accepts bearer tokens too). The project keeps the one it was generated with."""
