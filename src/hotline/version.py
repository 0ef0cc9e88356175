from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("hotline")
except PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0+unknown"
