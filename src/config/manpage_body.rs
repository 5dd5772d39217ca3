//! rwsgi(8)'s prose after the options and the operating sections: signals, reloads, the
//! packaged units, files, exit status and where rwsgi differs from uWSGI. Kept apart from
//! `manpage` so the option-driven page generator stays short.
//!
//! Owns: that roff text. Must not: describe options (the option table does).

/// The rest of rwsgi(8), from SIGNALS to SEE ALSO.
pub const SERVER_BODY: &str = r#".SH SIGNALS
Send signals to the master (\fBsystemctl reload\fR sends SIGHUP).
.TP
.B SIGTERM
Graceful stop: stop accepting, finish requests in flight (at most \fBworker\-reload\-mercy\fR
seconds, then SIGKILL), exit 0. An idle keep\-alive connection may still bring one last
request within a second; a connection accepted but not yet served gets up to 5 seconds
for its first request (both are answered with \fBConnection: close\fR). \fIDiffers from uWSGI 2.0\fR, where SIGTERM is a brutal
reload unless \fBdie\-on\-term\fR is set; rwsgi accepts \fBdie\-on\-term\fR and always behaves
so, which is what systemd's stop needs.
.TP
.B SIGINT, SIGQUIT
Immediate stop: workers are interrupted. (uWSGI 2.0 with \fBdie\-on\-term\fR turns SIGQUIT
into a brutal reload; rwsgi does not.)
.TP
.B SIGHUP
Graceful reload: the master executes itself again (same pid), re\-reads the configuration,
imports the application afresh and forks new workers; the listening sockets, and the
\fBstats\fR and \fBmetrics\fR sockets while their address stays the same, are passed on
and never closed (so a master that dropped privileges keeps a socket it could not bind or
unlink again), and the old workers serve until every new one is ready, then finish their
requests. A reload either completes or leaves the running generation serving: every step
of the new one (parsing, binding, pidfile, privileges, hooks, importing the application,
also in each worker with \fBlazy\-apps\fR) is tried before the old workers are given up. When
one fails, the old workers keep serving under the same master pid, the log and
\fBSTATUS=\fR say \fBreload failed:\fR and why, systemd gets \fBREADY=1\fR (the reload is
over), and no new worker is forked until the next reload: a worker of the previous
generation that exits meanwhile (\fBmax\-requests\fR, \fBharakiri\fR) is not replaced, so
fix the cause and reload again. The outcome (\fBok\fR or
\fBfailed: \fR\fIreason\fR) is also written to \fI$RUNTIME_DIRECTORY/reload.status\fR, which
the packaged unit's \fBExecReload=\fR waits for, so \fBsystemctl reload\fR exits non\-zero
within seconds when the reload failed. \fBtouch\-reload\fR does the same. (uWSGI 2.0 waits
for the old workers to exit before it starts the new ones.)
.TP
.B SIGUSR1
Log each worker's pid, uptime, request count and, per thread, the request in flight.
.TP
.B SIGTTIN, SIGTTOU
One worker more, one worker less.
.SH SOCKET ACTIVATION AND READINESS
Sockets passed by systemd (\fBLISTEN_FDS\fR) are matched to the \fBsocket\fR,
\fBhttp\-socket\fR and \fBhttp\fR options by their real address, read from the descriptor;
the matching option decides the protocol and the address is not bound again. A passed
socket that matches no option takes its protocol from its \fBFileDescriptorName=\fR
(\fBhttp\fR or \fBuwsgi\fR), else from \fBprotocol\fR. Passed sockets are never unlinked,
chmod\-ed or chowned, even with \fBvacuum\fR, and survive reloads. LISTEN_FDS, LISTEN_PID and
LISTEN_FDNAMES are removed before the application runs.
.PP
With \fBType=notify\fR, \fBREADY=1\fR is sent only when every worker has the application
loaded and accepts. An application that does not load never holds readiness back: without
\fBneed\-app\fR, with or without \fBlazy\-apps\fR, the workers answer 500, the error is in
the log and \fBSTATUS=\fR begins with \fBthe application did not load\fR; with
\fBneed\-app\fR the start fails at once (status 22). \fBSTATUS=\fR tells what happens and how many requests were served;
a reload sends \fBRELOADING=1\fR with \fBMONOTONIC_USEC=\fR, then \fBREADY=1\fR; a stop
sends \fBSTOPPING=1\fR. With \fBWatchdogSec=\fR the master sends \fBWATCHDOG=1\fR at half
the interval. A slow application import asks for more start time with
\fBEXTEND_TIMEOUT_USEC=\fR. Only the master notifies (\fBNotifyAccess=main\fR suffices).
.SH LOGGING
When stderr is the journal (\fBJOURNAL_STREAM\fR), rwsgi writes journal entries with
\fBPRIORITY\fR set per message, \fBSYSLOG_IDENTIFIER\fR (\fBRWSGI_SYSLOG_IDENTIFIER\fR, which
the packaged unit sets to \fBrwsgi\-\fR\fINAME\fR like its \fBSyslogIdentifier=\fR, else
\fBrwsgi\fR), \fBWORKER_ID\fR, and for each
request \fBREQUEST_METHOD\fR, \fBREQUEST_URI\fR, \fBSTATUS\fR, \fBDURATION_US\fR,
\fBRESPONSE_BYTES\fR and \fBREMOTE_ADDR\fR, so that for example
.RS
.EX
journalctl \-u rwsgi@myapp STATUS=500
journalctl \-u rwsgi@myapp \-o json
.EE
.RE
work. A Python traceback is one entry. The application's \fIsys.stdout\fR and
\fIsys.stderr\fR (and so \fBwsgi.errors\fR and \fBlogging\fR's default handler) become
entries too, with the same identifier and \fBRWSGI_SOURCE=application\fR: one per write that
ends a line, so a traceback written by \fBlogging\fR is one entry, at the level its first
line names (\fBCRITICAL\fR 2, \fBERROR\fR 3, \fBWARNING\fR 4, \fBINFO\fR 6, \fBDEBUG\fR 7, as
a whole word: \fBERROR:app:...\fR, \fB[...] ERROR in app: ...\fR), else 6 (stdout) or 5
(stderr). \fBjournalctl \-u rwsgi@myapp \-p err\fR shows the application's errors.
Otherwise rwsgi writes plain lines to stderr, or
to the file named by \fBlogto\fR. \fBlog\-format\fR shapes the request line with uWSGI's
variables; \fBlog\-format = uwsgi\fR gives uWSGI's default request line (see
\fBMIGRATING FROM UWSGI\fR). At start the master logs rwsgi's version, the Python version,
executable and virtualenv as the running interpreter reports them, each listener, and the
number of workers and threads.
.SH EXIT STATUS
.TP
.B 0
Stopped on request.
.TP
.B 1
Another start\-up failure: a \fBhook\-*\fR or \fBexec\-*\fR hook failed, or the master could
not set itself up.
.TP
.B 2
The configuration is invalid (the message names file, line and option) or cannot work: a
socket cannot be bound, the pidfile cannot be written, the user cannot be switched to,
\fBchdir\fR or the Python \fBhome\fR fails. Starting again cannot help; the packaged unit
does not retry it.
.TP
.B 22
The application could not be loaded and \fBneed\-app\fR is set (uWSGI's status).
.SH ENVIRONMENT
.TP
.B LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES
Sockets passed by systemd.
.TP
.B NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID
systemd notifications; removed from the workers' environment.
.TP
.B JOURNAL_STREAM
Tells rwsgi that stderr is the journal.
.TP
.B RWSGI_JOURNAL_SOCKET
Send journal entries to this socket instead of /run/systemd/journal/socket (for tests).
.TP
.B RWSGI_SYSLOG_IDENTIFIER
\fBSYSLOG_IDENTIFIER\fR of every journal entry (default \fBrwsgi\fR).
.TP
.B RUNTIME_DIRECTORY
systemd's \fBRuntimeDirectory=\fR: where a reload's outcome is written (\fIreload.status\fR).
.TP
.B TMPDIR
Where request bodies larger than 1 MiB are spooled (an unlinked file).
.SH FILES
.TP
.I /etc/rwsgi/APP.ini
Configuration of \fBrwsgi@APP.service\fR.
.TP
.I /lib/systemd/system/rwsgi@.socket, /lib/systemd/system/rwsgi@.service
Template units: the socket \fI/run/rwsgi/APP.sock\fR (uwsgi protocol, owned by www\-data
for nginx) and the hardened service.
.TP
.I /usr/libexec/rwsgi/reload, /usr/libexec/rwsgi/stopped
The unit's \fBExecReload=\fR (signal the master, wait for the reload's outcome) and
\fBExecStopPost=\fR (stop the socket after an exit that cannot be retried).
.TP
.I /usr/share/doc/rwsgi/examples/systemd/override.conf
A commented drop\-in for \fBsystemctl edit rwsgi@\fR\fINAME\fR\fB.service\fR: writable paths,
another user.
.TP
.I /usr/share/doc/rwsgi/examples/
An example ini, an nginx server block, and a unit pair for people who write their own.
.SH EXAMPLES
A typical \fI/etc/rwsgi/myapp.ini\fR:
.RS
.EX
[uwsgi]
chdir = /srv/myapp
module = myproject.wsgi:application
home = /srv/myapp/venv
processes = 4
max\-requests = 1000
harakiri = 30
.EE
.RE
.PP
Serve an application over HTTP with four workers:
.RS
.EX
rwsgi \-\-chdir /srv/myapp \-\-module myproject.wsgi \-\-http\-socket :8000 \-\-processes 4
.EE
.RE
.PP
Run it under systemd behind nginx:
.RS
.EX
cp myapp.ini /etc/rwsgi/myapp.ini
systemctl enable \-\-now rwsgi@myapp.socket
.EE
.RE
with, in nginx:
.RS
.EX
location / {
    include uwsgi_params;
    uwsgi_pass unix:/run/rwsgi/myapp.sock;
}
.EE
.RE
.SH THE UWSGI MODULE
Applications served by rwsgi can \fBimport uwsgi\fR (and \fBuwsgidecorators\fR), as under
uWSGI 2.0; neither exists outside rwsgi. The module is written for rwsgi; behaviour follows
uWSGI 2.0's documentation and, where that is silent, what uWSGI 2.0.31 answers.
\fBversion\fR is b"2.0.31" (the API level), \fBversion_info\fR ends with
b"rwsgi\-VERSION", and \fBrwsgi_version\fR is rwsgi's version.
.TP
\fBopt\fR
The configuration as written: option name (one\-letter forms by their long name, the
\fBini\fR files first) to \fIbytes\fR, \fBTrue\fR for a flag given without a value, a
\fIlist\fR when an option is repeated. uWSGI 2.0.x under Python 3 keeps only the last of
repeated options (its bug #1374, fixed in its 2.1 branch); rwsgi gives the list.
.TP
\fBnumproc\fR, \fBcores\fR, \fBbuffer_size\fR, \fBstarted_on\fR, \fBhostname\fR, \fBis_a_reload\fR
Processes, threads per worker, buffer\-size, the master's start (Unix time), the host name
(bytes), and whether this master image came from a graceful reload.
.TP
\fBworker_id\fR(), \fBmule_id\fR(), \fBmasterpid\fR()
This worker's id (0 in the master and in mules), this mule's id (0 outside mules), the
master's pid.
.TP
\fBtotal_requests\fR(), \fBrequest_id\fR(), \fBworkers\fR()
Requests every worker finished since the master started; requests this worker had finished
when the current one began; one dict per live worker with uWSGI's keys (\fBid\fR,
\fBpid\fR, \fBrequests\fR, \fBstatus\fR b"idle"/b"busy", \fBexceptions\fR, \fBtx\fR,
\fBavg_rt\fR, \fBrss\fR, \fBvsz\fR, \fBlast_spawn\fR...; \fBsignals\fR,
\fBharakiri_count\fR and \fBrespawn_count\fR are 0, \fBapps\fR is empty).
.TP
\fBlog\fR(\fImessage\fR), \fBset_logvar\fR(\fIkey\fR, \fIvalue\fR), \fBget_logvar\fR(\fIkey\fR)
A line in the server log; a variable of the current request that \fBlog\-format\fR shows as
\fB%(\fIkey\fB)\fR.
.TP
\fBreload\fR(), \fBstop\fR()
A graceful reload (SIGHUP to the master); a graceful stop (SIGTERM to the master).
.TP
\fBpost_fork_hook\fR, \fBatexit\fR
Callables rwsgi calls in each worker: the first once its application is in place (right
after the fork, or after loading it with \fBlazy\-apps\fR), the second when it exits.
\fBos.register_at_fork\fR(\fIafter_in_child\fR) handlers run at each fork, before
\fBpost_fork_hook\fR; with \fBlazy\-apps\fR the application registers them after the fork,
so they do not run, as under uWSGI.
.TP
\fBcache_get\fR(\fIkey\fR[, \fIcache\fR]), \fBcache_set\fR(\fIkey\fR, \fIvalue\fR[, \fIexpires\fR, \fIcache\fR]), \fBcache_update\fR(...), \fBcache_del\fR(\fIkey\fR[, \fIcache\fR]), \fBcache_exists\fR(...), \fBcache_clear\fR([\fIcache\fR]), \fBcache_inc\fR(\fIkey\fR[, \fIn\fR, \fIexpires\fR, \fIcache\fR]), \fBcache_dec\fR(...), \fBcache_num\fR(\fIkey\fR[, \fIcache\fR]), \fBcache_keys\fR([\fIcache\fR])
The caches of \fBcache2\fR (the first is the default) and \fBcache\fR (named "default").
They live in memory the master maps before forking: every worker and thread shares them,
recycled workers find them, and a graceful reload hands the memory to the new master image
(a changed geometry starts empty); with \fBstore=\fR\fIFILE\fR the memory is that file and
survives restarts. \fBcache_set\fR stores only a missing key, \fBcache_update\fR always.
As uWSGI: \fBitems=N\fR holds N\-1 keys; a full cache (without \fBpurge_lru\fR), a key
longer than \fBkeysize\fR, a value longer than \fBblocksize\fR, an unknown cache name or no
cache configured make the call answer \fBNone\fR (\fBcache_num\fR 0; rwsgi logs the
missing cache once); \fBcache_keys\fR then raises \fBValueError\fR("no local uWSGI cache
available"); a key or value neither bytes nor str raises \fBTypeError\fR.
\fBcache_inc\fR/\fBcache_dec\fR keep a 64\-bit little\-endian number (created when
missing). Values span one block (\fBbitmap\fR is accepted and ignored); remote caches
(\fIname@host\fR) are not provided.
.TP
\fBlock\fR([\fIn\fR]), \fBunlock\fR([\fIn\fR]), \fBis_locked\fR([\fIn\fR])
Locks 0 to \fBlocks\fR (lock 0 always exists), shared by every worker and thread; robust
process\-shared mutexes, so a worker killed while holding one (SIGKILL, harakiri) releases
it (the next holder's log says so). Another number raises \fBValueError\fR("Invalid lock
number"), as uWSGI.
.TP
\fBregister_signal\fR(\fInum\fR, \fItarget\fR, \fIhandler\fR), \fBsignal\fR(\fInum\fR), \fBsignal_registered\fR(\fInum\fR)
Signals 0\-255. Targets: "" or "worker" (one worker, in turn), "workers" and
"active\-workers" (every ready worker), "worker\fIN\fR", "mule" (one live mule, in turn),
"mules" (every mule), "mule\fIN\fR", "spooler" (one live spooler process) and "spoolers"
(all). A mule runs its signals while it waits for a message (its built\-in loop, or
\fBmule_get_msg\fR with \fIsignals\fR true), a spooler between tasks; a signal for a mule
that is down waits for its successor. The handler(\fInum\fR) runs in the
worker's event loop between requests (polled every 50 ms), once per raise; one that raises
is logged with its traceback. Handlers registered while the master loads the application
are inherited by every worker, recycled ones included; with \fBlazy\-apps\fR each worker
registers its own. An unknown target answers None as uWSGI (rwsgi logs that the signal is
never delivered).
.TP
\fBadd_timer\fR(\fInum\fR, \fIseconds\fR), \fBadd_rb_timer\fR(\fInum\fR, \fIseconds\fR[, \fIiterations\fR]), \fBadd_cron\fR(\fInum\fR, \fIminute\fR, \fIhour\fR, \fIday\fR, \fImonth\fR, \fIweekday\fR), \fBadd_file_monitor\fR(\fInum\fR, \fIpath\fR)
The master raises \fInum\fR every \fIseconds\fR (with a one\-second resolution), at most
\fIiterations\fR times (0: forever), at the minutes a cron rule names (\-1 any, \-\fIN\fR
every \fIN\fR), or when \fIpath\fR's modification time changes (checked every second). A
timer of 0 seconds answers None and is not armed, as uWSGI (rwsgi logs it). The same
source registered twice (each lazy\-apps worker) is armed once; 64 sources at most.
.TP
\fBSPOOL_OK\fR, \fBSPOOL_RETRY\fR, \fBSPOOL_IGNORE\fR
\-2, \-1, 0, as uWSGI.
.TP
\fBspool\fR(\fIdict\fR or \fIkey\fR=\fIvalue\fR...), \fBsend_to_spooler\fR(...)
Queues a task for a spooler and returns its file name (bytes). Keys and values are str or
bytes (numbers are written as text); \fBbody\fR is carried as bytes of any size;
\fBspooler\fR names the directory (one of \fBspooler\fR or \fBspooler\-external\fR; the
first \fBspooler\fR otherwise), \fBpriority\fR (a whole number) the sub\-directory,
\fBat\fR the Unix time before which it does not run. The task is a uwsgi packet
(modifier1 17) plus the body, written to a hidden temporary file, synced and renamed into
place: a spooler never sees half a task, and tasks survive a restart. The other
variables together are limited to 64 KiB, as uWSGI (\fBValueError\fR above it; put large
data in \fBbody\fR); a write error (a full disk) raises \fBOSError\fR and leaves nothing
behind.
.TP
\fBspooler\fR
The callable each spooler process calls with a task's dict (bytes keys and values,
\fBbody\fR and \fBspooler_task_name\fR included). \fBSPOOL_OK\fR removes the task,
\fBSPOOL_RETRY\fR keeps it for the next scan, \fBSPOOL_IGNORE\fR leaves it; an exception
is logged with its traceback and the task kept for a retry, and so is any other return
value (as uWSGI, a function that returns nothing runs again). A task is locked
(\fBflock\fR) while it runs, so spoolers sharing a directory never run it twice and the
task of a spooler killed mid\-task (SIGKILL, \fBspooler\-harakiri\fR) runs again. A file
that is not a task is moved to \fI.rwsgi\-unparseable/\fR in its directory and logged
once. Priority sub\-directories are scanned lowest number first, then the directory's own
tasks; \fBspooler\-ordered\fR also runs each group oldest first.
.TP
\fBspooler_jobs\fR(), \fBspooler_pid\fR(), \fBspooler_pids\fR(), \fBin_spooler\fR()
The task files waiting in this server's spool directories; the first spooler process's pid
(0 without one); every spooler's pid; whether this process is a spooler.
.TP
\fBmule_msg\fR(\fImsg\fR[, \fIid\fR or \fIfarm\fR]), \fBfarm_msg\fR(\fIfarm\fR, \fImsg\fR)
Queues \fImsg\fR (bytes, or str sent as UTF\-8) for mule \fIid\fR, for one mule of a
\fBfarm\fR, or (no target, or 0) for any mule, and returns True; from a worker, a spooler,
a mule or the master. Messages are delivered exactly once, whole, in the order each sender
sent them (several mules reading one queue may handle them concurrently). The limit is
65536 bytes (64 KiB), as uWSGI: a larger message raises \fBValueError\fR and is not sent.
An unknown mule or farm raises \fBValueError\fR (uWSGI logs and answers None); a queue
that stays full for 10 seconds raises \fBRuntimeError\fR (the message is not sent).
Each mule, each farm and "any mule" have a queue: a SOCK_SEQPACKET socket pair the master
creates before forking and keeps open, so queued messages live in the kernel and survive
a mule's death: the respawned mule reads them. A mule receives into a slot of shared
memory, so when it dies the master knows what it held: a message read but not yet handed
to Python is queued again for the respawned mule; one handed to Python and not finished
(the thread had not asked for the next message, or \fBmule_msg_hook\fR had not returned)
is logged as LOST with its size, never dropped silently. A reload hands the queues to the
next master image, so queued messages reach the new mules; at a stop, messages still
queued are counted in the log as LOST.
.TP
\fBmule_get_msg\fR(\fIsignals\fR=True, \fIfarms\fR=True, \fIbuffer_size\fR=65536, \fItimeout\fR=\-1), \fBfarm_get_msg\fR(\fItimeout\fR=\-1), \fBin_farm\fR(\fIname\fR)
In a mule: the next message for it (its own queue, any mule's, and its farms' when
\fIfarms\fR) as bytes, waiting up to \fItimeout\fR seconds (\-1: forever; None when it
passes), running the mule's signals meanwhile when \fIsignals\fR; \fIbuffer_size\fR is
accepted, messages are always read whole. Several threads of a mule may wait at once.
\fBfarm_get_msg\fR reads only the mule's farms and blocks like \fBmule_get_msg\fR
(rwsgi's choice; None if the mule is in no farm). Outside a mule both raise
\fBRuntimeError\fR. \fBin_farm\fR says whether this mule belongs to a farm.
.TP
\fBmule_msg_hook\fR
What a mule without a program (\fBmule\fR with no value, \fBmules\fR) calls with each
message (bytes); an exception is logged with its traceback and the mule goes on. Importing
\fBuwsgidecorators\fR sets it to run \fB@mulefunc\fR calls. Mules are forked by the master
after the application is loaded (with \fBlazy\-apps\fR each mule loads it), run
\fBpost_fork_hook\fR, and are respawned when they exit, with a backoff from 1 to 30 seconds
(reset after 10 seconds of life). A stop sends SIGTERM to each mule's process group: a
looping mule finishes its message first, a programmed one ends (uWSGI sends SIGKILL).
The \fBstats\fR document lists them under "mules" (\fBid\fR, \fBpid\fR,
\fBrespawn_count\fR, \fBrunning\fR), an rwsgi addition that uwsgitop ignores.
.TP
\fBuwsgidecorators\fR
\fB@postfork\fR (and \fB@postfork(\fIN\fB)\fR for worker N only), \fB@thread\fR,
\fB@lock\fR (lock 0), \fB@signal(\fInum\fB, target="")\fR, \fB@timer(\fIseconds\fB)\fR,
\fB@rbtimer(\fIseconds\fB, iterations=0)\fR, \fB@cron(\fIminute, hour, day, month,
weekday\fB)\fR, \fB@filemon(\fIpath\fB)\fR, \fBget_free_signal\fR(), and the
spooler's \fB@spool\fR (the task is removed after the function runs), \fB@spoolforever\fR
(run at every scan) and \fB@spoolraw\fR (its return value decides): \fIf\fB.spool(...)\fR
(or calling \fIf\fR) queues it; with \fBpass_arguments=True\fR the positional and keyword
arguments are pickled, otherwise \fIf\fR gets the task's dict with str keys and values
(\fBbody\fR as bytes). Importing the module sets \fBuwsgi.spooler\fR to its
\fBmanage_spool_request\fR, which finds the function in \fBspooler_functions\fR.
\fB@mulefunc\fR (any mule), \fB@mulefunc(\fIN\fB)\fR (mule N) and
\fB@mulefunc(\fI"farm"\fB)\fR: calling the function queues the call, its arguments
pickled, and returns True; a mule runs it (\fBmule_functions\fR, through
\fBmule_msg_dispatcher\fR, which importing the module sets as \fBuwsgi.mule_msg_hook\fR).
\fB@mule(\fIN\fB)\fR runs the function in mule N after its fork, \fB@muleloop(\fIN\fB)\fR
again and again, \fB@farm(\fIname\fB)\fR calls it with each message of that farm in each
of its mules. If the
application's environment has the PyPI \fBuwsgidecorators\fR (uWSGI's own), that one is
imported instead and runs on rwsgi's module.
.PP
Not provided, each raising \fBAttributeError\fR that names rwsgi and what to use instead:
websockets, RPC, the
sharedarea, async and green functions, \fBroute\fR, \fBadd_var\fR, \fBconnection_fd\fR,
\fBchunked_read\fR. Any other missing name raises \fBAttributeError\fR naming this section.
.SH THE PACKAGED UNITS
\fBrwsgi@\fR\fINAME\fR\fB.socket\fR listens on \fI/run/rwsgi/NAME.sock\fR (uwsgi protocol,
owned by www\-data for nginx) and starts \fBrwsgi@\fR\fINAME\fR\fB.service\fR, which runs
\fBrwsgi \-\-ini /etc/rwsgi/\fR\fINAME\fR\fB.ini \-\-socket /run/rwsgi/\fR\fINAME\fR\fB.sock\fR as
www\-data, never as root, with this in mind:
.IP \(bu 2
\fBSockets.\fR The unit passes \fI/run/rwsgi/NAME.sock\fR. A unix \fBsocket\fR line in the ini
(written for a uWSGI that created its own) is skipped with a warning naming its file and
line: point nginx at \fI/run/rwsgi/NAME.sock\fR, or drop the line. TCP sockets
(\fBhttp\-socket = 127.0.0.1:8080\fR) are bound as written.
.IP \(bu 2
\fBWhere it may write.\fR \fBProtectSystem=strict\fR makes the file system read\-only for
rwsgi and the application except \fI/run/rwsgi/NAME/\fR (RuntimeDirectory, the place for a
\fBpidfile\fR or a \fBstats\fR socket), \fI/var/lib/rwsgi/NAME/\fR (StateDirectory),
\fI/var/cache/rwsgi/NAME/\fR (CacheDirectory), \fI/var/log/rwsgi/NAME/\fR (LogsDirectory,
for \fBlogto\fR) and a private \fI/tmp\fR; \fBProtectHome=yes\fR hides \fI/home\fR. Writing
anywhere else fails with \fIRead\-only file system\fR (an upload directory, a cache, a sqlite
file, \fBHOME\fR). Add a path with a drop\-in:
.RS
.EX
systemctl edit rwsgi@NAME.service
[Service]
ReadWritePaths=/srv/NAME/media
systemctl restart rwsgi@NAME.service
.EE
.RE
At start, rwsgi warns when the directory of a path it writes itself (\fBlogto\fR,
\fBpidfile\fR, \fBstats\fR) is not writable, naming that drop\-in.
.IP \(bu 2
\fBAnother user.\fR As www\-data without capabilities, rwsgi cannot switch users:
\fBuid\fR, \fBgid\fR and \fBchown\-socket\fR lines that name www\-data are accepted, others are
ignored with one warning naming their file and line. Choose the user in the same drop\-in
with \fBUser=\fR\fINAME\fR and \fBGroup=\fR\fINAME\fR (the socket stays www\-data's, for nginx).
.IP \(bu 2
\fBFaults.\fR \fBsystemctl reload\fR fails, and the running workers keep serving, when the new
generation cannot start (see SIGHUP). A configuration that cannot work (exit status 2) or
an application missing with \fBneed\-app\fR (22) is not retried
(\fBRestartPreventExitStatus=\fR): the service ends \fBfailed\fR and its socket stops
listening, so nginx answers 502 at once; \fBsystemctl status rwsgi@\fR\fINAME\fR shows the
reason. Other failures are retried every 2 seconds, 5 times a minute at most. After the
fix: \fBsystemctl start rwsgi@\fR\fINAME\fR\fB.socket\fR.
.IP \(bu 2
\fBLogs.\fR Everything the instance logs has the identifier \fBrwsgi\-\fR\fINAME\fR (see
LOGGING).
.IP \(bu 2
\fBRemoval.\fR Removing the package stops and disables every instance; purging it removes
\fI/var/lib/rwsgi\fR, \fI/var/cache/rwsgi\fR, \fI/var/log/rwsgi\fR and \fI/run/rwsgi\fR.
.PP
\fI/usr/share/doc/rwsgi/examples/systemd/override.conf\fR is a commented drop\-in with
these lines.
.SH MIGRATING FROM UWSGI
Keep the ini file; under the packaged units see THE PACKAGED UNITS for \fBsocket\fR,
\fBuid\fR and \fBgid\fR lines. Remove \fBdaemonize\fR and \fBemperor\fR (systemd template units do their
job: one \fBrwsgi@APP\fR instance per \fI/etc/rwsgi/APP.ini\fR). \fBmaster\fR,
\fBenable\-threads\fR, \fBdie\-on\-term\fR and \fBplugins = python3\fR are accepted and need
no change. Options rwsgi does not know are reported at start with the file and line, and
ignored; \fBstrict = true\fR makes them fatal. The default \fBbuffer\-size\fR is 8 KiB
(uWSGI: 4 KiB). \fBhttp\fR is served by the workers themselves, not by a separate router
process. Signals differ as described above.
.PP
Options that rwsgi accepts but does not honour start the server with one warning each,
naming the file, the line, the reason and what to use instead: the \fBgevent\fR,
\fBasync\fR and \fBugreen\fR loop engines (use \fBthreads\fR), the emperor, and the
options for the parts of uWSGI's \fBuwsgi\fR Python module that rwsgi does not provide
(\fBhttp\-websockets\fR; see THE UWSGI MODULE).
Plugins other than Python's warn the same way. Where rwsgi differs on purpose:
\fBvhost\fR chooses among \fBmount = HOST=APP\fR entries but never loads applications named
by the web server (\fBUWSGI_SCRIPT\fR, \fBUWSGI_MODULE\fR); alarms run only the
\fBcmd:\fR type; process names are the kernel's 15\-character comm, not rewritten
command lines; \fBlog\-reopen\fR is always on (a renamed log file is reopened within a
second); comments after a size or after \fBmodule\fR, \fBcallable\fR or \fBwsgi\-file\fR
are dropped with a warning where uWSGI would read them as part of the value.
.PP
What moving a real deployment shows:
.TP
.B Commands rwsgi starts
\fBattach\-daemon\fR, \fBattach\-daemon2\fR, \fBsmart\-attach\-daemon\fR, \fBcron\fR and
\fBunique\-cron\fR commands, \fBexec\-*\fR hooks and alarm commands each run in a process
group of their own, as in uWSGI. A stop or a reload sends the whole group the daemon's stop
signal (SIGTERM, or \fBattach\-daemon2\fR's \fBstopsignal\fR), SIGKILL 5 seconds later if any
member is left, and waits until the group is empty; a daemon the master stops is never
restarted, so after a reload exactly one instance of each runs. The master is the
subreaper of what they leave behind. Alarm commands are started by the master, whichever
process raised the alarm (a worker's log line), so \fBalarm\-freq\fR holds across workers;
an alarm raised while the server stops or reloads is logged and not run, and one raised by
a previous generation's worker finishing its requests after a reload is run by the new
master image (the channel is passed across the exec). Smart daemons survive a reload (the next image finds
them by their pidfile) and are stopped, with their group, on stop. \fBattach\-daemon2\fR
takes the keys \fBcmd\fR, \fBstopsignal\fR and \fBpidfile\fR; other keys are refused.
.TP
.B Failing hooks
A failing \fBhook\-*\fR or \fBexec\-*\fR hook (other than \fBhook\-as\-user\-atexit\fR) ends
the start with exit status 1 and one message naming the hook, its file and line and the
command's exit status, as uWSGI's "FATAL hook failed, destroying instance"; this holds for
\fBhook\-pre\-app\fR and \fBhook\-post\-app\fR (not served as 500s) and for the worker hooks.
During a reload the previous workers keep serving the old code instead.
.TP
.B Server and Date headers
On \fBsocket\fR (uwsgi protocol) listeners rwsgi adds no header of its own, as uWSGI, so
the front end's \fBServer\fR and \fBDate\fR stand. On HTTP listeners it adds
\fBServer: rwsgi\fR and \fBDate\fR when the application set none (uWSGI's
\fBhttp\-socket\fR adds neither); \fBroute = .* delheader:Server\fR or
\fBhttp\-server\-header = false\fR remove \fBServer\fR.
.TP
.B Request log line
rwsgi's own line (\fBworker 1: 127.0.0.1 "GET /" 200 5 bytes in 0.412 ms\fR) stays the
default: shorter, and with sub\-millisecond durations. \fBlog\-format = uwsgi\fR gives
uWSGI's default line field for field, alone on its line, for log parsers, fail2ban filters
and dashboards written for uWSGI:
.RS
.EX
[pid: 19113|app: 0|req: 4/17] 127.0.0.1 () {24 vars in 300 bytes} [Tue Dec  1 16:00:00 2026] GET /ping/ => generated 2 bytes in 6 msecs (HTTP/1.1 200) 2 headers in 79 bytes (1 switches on core 0)
.EE
.RE
\fBapp\fR is always 0, the user in parentheses is empty, \fBreq: a/b\fR counts this
worker's requests and those of every worker alive now, the variables are the request's
CGI variables counted as uWSGI counts them (keys and values), the headers are the response
head rwsgi wrote (status line included in the bytes), and \fBcore\fR is the worker thread.
.TP
.B Clients that leave
A client that goes away during the response is logged with the request
(\fBGET /path (ADDR): client gone after N body bytes: Broken pipe\fR), where uWSGI logs
"Broken pipe"; the application's iterable is still closed and the worker serves on.
.TP
.B The virtualenv
With \fBhome\fR (\fBvirtualenv\fR, \fBvenv\fR) set, rwsgi does what activating the
virtualenv does for everything it starts \(em the application, hooks, daemons, cron:
\fBVIRTUAL_ENV\fR is set and \fIVENV\fB/bin\fR comes first on \fBPATH\fR, so a
\fB#!/usr/bin/env python\fR script such as Django's \fImanage.py\fR runs the virtualenv's
Python. uWSGI leaves \fBPATH\fR alone and such scripts run the system Python.
.TP
.B Request details
A request with \fBContent\-Length: 0\fR reaches the application with
\fBCONTENT_LENGTH = "0"\fR. On HTTP listeners a request\-target with raw non\-ASCII bytes
(not percent\-encoded, RFC 9112 section 3.2 with RFC 3986 section 2) is answered 400 and
the connection closed; uWSGI passes such bytes to the application.
.SH SEE ALSO
.BR rwsgi.ini (5),
.BR systemd.socket (5),
.BR systemd.service (5),
.BR journalctl (1)
"#;
