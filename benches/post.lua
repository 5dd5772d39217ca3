-- wrk: POST a 64 KiB body to /echo.
wrk.method = "POST"
wrk.path = "/echo"
wrk.body = string.rep("a", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
