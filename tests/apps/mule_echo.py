"""A programmed mule (tests/uwsgi_mules.rs): records each message it gets from
uwsgi.mule_get_msg() in $MULE_OUT. `block` makes it hang (holding that message), `exit`
ends it, `relay:X` sends `from-mule:X` to mule 2; $MULE_THREADS threads wait for messages at once."""

import os
import sys
import threading
import time

import uwsgi
from mule_app import record

record(name="start")


def serve():
    while True:
        message = uwsgi.mule_get_msg()
        text = message[:64].decode()
        record(name="got", text=text, size=len(message))
        if text.startswith("relay:"):
            uwsgi.mule_msg("from-mule:" + text[len("relay:"):], 2)
        if text == "block":
            time.sleep(3600)
        if text == "exit":
            os._exit(3)


if __name__ == "__main__":
    threads = [threading.Thread(target=serve, daemon=True)
               for _ in range(int(os.environ.get("MULE_THREADS", "1")) - 1)]
    for thread in threads:
        thread.start()
    serve()
