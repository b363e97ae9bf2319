"""The one error of the build."""


class BuildError(Exception):
    """A reason not to build, said to the user without a traceback."""
