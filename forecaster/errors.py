"""The exception tree of the forecaster package."""


class ForecasterError(Exception):
    """Base of every error raised by ``forecaster``."""


class ConfigError(ForecasterError):
    """The configuration file is missing, unreadable or invalid (exit code 2)."""


class InputError(ForecasterError):
    """Input data (a file, a table, an API answer) is unusable; the message says what and where."""


class ModelError(ForecasterError):
    """A model could not be fitted or could not forecast one series."""


class StoreError(ForecasterError):
    """The engine's own database could not be read or written."""
