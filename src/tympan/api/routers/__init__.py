"""One router per capability; every module here exposing ``router`` is mounted by the app."""
