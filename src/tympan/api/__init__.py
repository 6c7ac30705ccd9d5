"""The HTTP interface: app factory, dependencies, one router per capability."""

from tympan.api.app import create_app

__all__ = ["create_app"]
