"""`python -m {{ cookiecutter.package_name }}`: the command line."""

from .cli import main

main()
