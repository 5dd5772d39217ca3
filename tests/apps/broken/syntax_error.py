"""An application module with a syntax error, for the start-up error tests."""
def application(environ, start_response)
    return []
