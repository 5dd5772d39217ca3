"""For lazy-apps readiness: the second process to import this module takes 2 s more and then
leaves the file `slow-loaded` in $RWSGI_TEST_MARKS, so a test can tell whether READY=1 waited
for every worker or only for the first."""
import os
import time

MARKS = os.environ["RWSGI_TEST_MARKS"]

try:
    os.close(os.open(os.path.join(MARKS, "first"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
except FileExistsError:
    time.sleep(2)
    open(os.path.join(MARKS, "slow-loaded"), "w").close()


def application(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
