/*
 * src/observe/systemd_notify.h — sd_notify(3) without libsystemd: tells the service
 * manager (Type=notify) when cairn is ready, reloading or stopping.
 *
 * systemd passes the address of its notification socket in $NOTIFY_SOCKET:
 * a file system path ("/run/systemd/notify") or an abstract socket written
 * with a leading '@'. Each message is one datagram of newline-separated
 * VAR=value assignments. With NotifyAccess=main systemd accepts them only from
 * the main process (any of its threads).
 *
 * The protocol cairn follows:
 *   after the listeners are open       systemd_notify_ready()
 *   SIGHUP, before rebuilding config   systemd_notify_reloading()
 *   reload done (applied or refused)   systemd_notify_ready()
 *   SIGTERM, before draining           systemd_notify_stopping()
 *   any time                           systemd_notify_status("serving on %s", address)
 * systemd_notify_reloading() sends RELOADING=1 with MONOTONIC_USEC=<now>,
 * which systemd 253+ requires of Type=notify-reload and older versions
 * ignore.
 *
 * Without $NOTIFY_SOCKET (not started by systemd) every call does nothing
 * and returns 1. A failure returns a negated errno with error_set(); the
 * server only logs it: notification is never a reason to stop serving.
 *
 *     if (systemd_notify_ready() < 0)
 *         log_message(LOG_LEVEL_WARN, "sd_notify: %s", error_message());
 */
#ifndef CAIRN_SRC_OBSERVE_SYSTEMD_NOTIFY_H
#define CAIRN_SRC_OBSERVE_SYSTEMD_NOTIFY_H

/* Sends `state` ("READY=1", or several lines "A=1\nB=2") as one datagram.
 * 0 sent, 1 no $NOTIFY_SOCKET, or -EINVAL (an address that is neither a
 * path nor '@'), -ENAMETOOLONG, or the errno of socket(2)/sendto(2). */
int systemd_notify(const char *state);

/* "READY=1" */
int systemd_notify_ready(void);

/* "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in µs>" */
int systemd_notify_reloading(void);

/* "STOPPING=1" */
int systemd_notify_stopping(void);

/* "STATUS=<text>": the line `systemctl status` shows. Newlines in the text
 * become spaces; it is cut at 1 KiB. */
int systemd_notify_status(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
