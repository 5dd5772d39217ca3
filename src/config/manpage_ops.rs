//! rwsgi(8)'s sections on operating rwsgi: metrics and the status page, checking a
//! configuration (`--check`), and several hosts behind a load balancer. Kept apart from
//! `manpage` so the option-driven page and these prose sections change independently.
//!
//! Owns: that roff text. Must not: describe options (the option table does).

/// Inserted in rwsgi(8) between the options and the signals.
pub const OPERATIONS: &str = r#".SH METRICS AND STATUS PAGE
\fBmetrics = 127.0.0.1:9191\fR serves Prometheus metrics (text format 0.0.4, which
OpenMetrics scrapers read too) over HTTP at any path; with \fBstats\-http\fR the stats
socket serves the same text at \fI/metrics\fR. The master answers from counters the
workers keep in shared memory (relaxed atomic additions; no lock on the request path).
Labels are bounded: \fIlistener\fR (the configured sockets, at most 8; further ones share
\fIothers\fR), \fIclass\fR (none, 1xx to 5xx), \fIworker\fR (1 to processes), \fIstate\fR,
\fIcause\fR; never a request path.
.TP
.B rwsgi_requests_total{listener,class}
requests answered (\fInone\fR: closed without an answer)
.TP
.B rwsgi_request_duration_seconds{listener}
histogram of request durations, 1 ms to 10 s
.TP
.B rwsgi_requests_in_flight
requests being served now
.TP
.B rwsgi_received_bytes_total{listener}, rwsgi_sent_bytes_total{listener}
request and response bytes
.TP
.B rwsgi_listen_queue{listener}, rwsgi_listen_queue_max{listener}
connections waiting to be accepted and the queue's limit, from the kernel
.TP
.B rwsgi_workers{state}
workers starting, idle, busy, draining, and retiring (recycled or of the previous
generation, finishing their requests)
.TP
.B rwsgi_worker_respawns_total{cause}
workers replaced after a crash, a recycle (max\-requests, reload\-on\-rss,
max\-worker\-lifetime...), harakiri, or a reload
.TP
.B rwsgi_harakiri_total
workers killed by harakiri
.TP
.B rwsgi_worker_resident_bytes{worker}, rwsgi_worker_proportional_bytes{worker}
RSS and PSS of each worker
.TP
.B rwsgi_reloads_total, rwsgi_generation, rwsgi_start_time_seconds
reloads since the first start, the running generation, and when rwsgi first started
.PP
Request counters restart at 0 when the master reloads (a new image with a new shared
memory), which Prometheus treats as a counter reset; respawn, harakiri and reload counts
and the start time carry over. A scrape configuration:
.RS
.EX
scrape_configs:
  \- job_name: rwsgi
    scrape_interval: 15s
    static_configs:
      \- targets: [\(aq127.0.0.1:9191\(aq]
.EE
.RE
and, for example, requests per second by class:
\fBsum by (class) (rate(rwsgi_requests_total[1m]))\fR; the 99th percentile latency:
\fBhistogram_quantile(0.99, sum by (le) (rate(rwsgi_request_duration_seconds_bucket[5m])))\fR.
rwsgi's source has a Grafana dashboard of these in \fIexamples/grafana/rwsgi.json\fR.
.PP
A browser opening the \fBstats\-http\fR address (it sends \fBAccept: text/html\fR) gets a
status page: one self-contained HTML document that polls \fI/status.json\fR every second and
shows each worker's state, pid, requests, RSS and current request with its age, the listen
queues, request rate and mean latency as small charts, and the last respawns with their
causes. uwsgitop and scripts keep getting uWSGI's JSON document at any other path or
Accept. The stats socket has no authentication: bind it to loopback or a unix socket.
.SH CHECKING A CONFIGURATION
\fBrwsgi \-\-check\fR with the usual arguments (like \fBnginx \-t\fR) reads the
configuration exactly as a start would (files, command line, \fBUWSGI_*\fR environment),
reports every error and warning with the file and line (or command line, or environment
variable) it comes from, checks that each socket can be bound or is listening already (the
running server's, or a systemd socket unit's), that \fBuid\fR and \fBgid\fR exist, that
\fBchdir\fR, \fBstatic\-map\fR and \fBcheck\-static\fR directories exist and that
\fBlogto\fR and \fBpidfile\fR can be written; then, in a throw-away child that becomes the
configured user and follows the virtualenv, checks that user can read the static
directories and imports the application. It exits 0 with a one-line summary on standard
output, 1 when \fBstrict\fR is set and there are warnings, 2 on any error. It never
signals or changes a running server.
.RS
.EX
rwsgi \-\-check \-\-ini /etc/rwsgi/myapp.ini \-\-socket /run/rwsgi/myapp.sock
.EE
.RE
The packaged \fBrwsgi@.service\fR does not run it before each reload, on purpose: a reload
re-reads the configuration itself and refuses one it cannot read (keeping the running
generation), and a new generation whose application fails to import keeps the previous
workers serving; a pre-check would import the application one more time per reload,
repeating its import-time side effects (connections, caches warmed, files written). To have
\fBsystemctl reload\fR refuse what \fB\-\-check\fR rejects as well, add a drop-in
(\fBsystemctl edit rwsgi@myapp\fR); systemd runs the \fBExecReload=\fR lines in order and
stops at the first that fails:
.RS
.EX
[Service]
ExecReload=
ExecReload=/usr/bin/rwsgi \-\-check \-\-ini /etc/rwsgi/%i.ini \-\-socket /run/rwsgi/%i.sock
ExecReload=/bin/kill \-HUP $MAINPID
.EE
.RE
.SH SEVERAL HOSTS
When one machine is not enough, run rwsgi on several identical hosts behind nginx (or
HAProxy). The configuration rwsgi's tests use, with each host running
\fBrwsgi \-\-uwsgi\-socket 192.0.2.1\fIN\fB:3031\fR ...:
.RS
.EX
upstream app {
    server 192.0.2.11:3031 max_fails=1 fail_timeout=2s;
    server 192.0.2.12:3031 max_fails=1 fail_timeout=2s;
    server 192.0.2.13:3031 max_fails=1 fail_timeout=2s;
}
server {
    listen 80;
    location / {
        include uwsgi_params;
        uwsgi_pass app;
        uwsgi_next_upstream error timeout;
        uwsgi_next_upstream_tries 3;
        uwsgi_connect_timeout 1s;
        uwsgi_read_timeout 30s;
    }
}
.EE
.RE
Over HTTP (\fBhttp\-socket\fR), add \fBkeepalive 16;\fR to the upstream and use
\fBproxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
proxy_next_upstream error timeout;\fR.
Reloading or upgrading the hosts one at a time (SIGHUP, then waiting until the log says
\fBreload complete\fR) loses no request: the sockets stay open and the previous workers
finish their requests. When a host dies, only requests in flight on it can fail; nginx
retries on another host what failed before a response began (not a POST already sent), and
\fBmax_fails\fR/\fBfail_timeout\fR keep it away until the host answers again.
.PP
To take a host out without errors: mark it \fBdown\fR in the upstream and reload nginx,
wait until the host has no request in flight (\fBrwsgi_requests_in_flight\fR is 0, or no
worker is busy in the stats), then stop rwsgi with SIGTERM. To bring it back, start rwsgi,
wait until every worker is ready (\fBsystemctl start\fR returns then), and put it back in
the upstream.
.PP
What the hosts must share: the same code and configuration; sessions and caches in a
database or Redis and uploaded files in shared storage, never in one host's memory or
disk; scheduled jobs (\fBcron\fR, \fBattach\-daemon\fR) on one host only, or safe to run
on all. Scrape each host's metrics as its own target.
"#;
