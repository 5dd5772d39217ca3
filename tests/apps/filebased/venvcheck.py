"""Reports which interpreter prefix it runs in and which packages it can import."""
import importlib.util
import json
import sys


def application(environ, start_response):
    report = {
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "venv_package": importlib.util.find_spec("venv_only_package") is not None,
        "pip": importlib.util.find_spec("pip") is not None,
    }
    if report["venv_package"]:
        import venv_only_package

        report["venv_package_says"] = venv_only_package.GREETING
    body = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
