"""The {{ cookiecutter.package_name }} service: a FastAPI app with JWT authentication."""

__version__ = "{{ cookiecutter.version }}"
