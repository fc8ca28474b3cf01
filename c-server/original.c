/*
 * original.c - the non-blocking sender from the 2014 post "What happens when we hit
 * the speed limit of python" (tcp_server.c), kept as close to the original as the
 * harness allows. Every difference is listed in README under "Differences from the
 * original"; each one is also marked DIFF below.
 *
 * The behaviour that matters is unchanged: a non-blocking listener, a fork per
 * connection, a non-blocking connected socket, 13-byte "Hello World!\0" messages
 * sent with sendmsg() in a tight loop, and on the first failed send: log the count
 * and the errno, then close() without ever reading what the client sent. Because
 * the client's replies are still unread in the receive queue, the kernel answers
 * that close() with an RST (RFC 2525 2.17) instead of a FIN.
 *
 * The file is linked into the zerowin binary with main renamed to
 * zerowin_original_main (see build.rs); `zerowin serve` calls it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include <netdb.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <fcntl.h>

#define MAX_LISTEN 5
#define MAX_PHASES 64

/* The close policies. CLOSE_PLAIN is the original. */
enum close_policy { CLOSE_PLAIN, CLOSE_LINGER0, CLOSE_SHUTDOWN_DRAIN };

struct options {
    const char *port;      /* DIFF: from the command line; "0" = ephemeral */
    const char *bind_host; /* DIFF: NULL = wildcard, as the original */
    int sndbuf;            /* DIFF: 0 = kernel default */
    enum close_policy policy;
    const char *log_path;  /* DIFF: NULL = no per-message log */
    int drain_timeout_ms;  /* bound on the shutdown-drain read loop */
    double rate;           /* DIFF: messages per second; 0 = the original tight loop */
    int nphases;           /* DIFF: rates for a while each before `rate` (a spike) */
    long long phase_ms[MAX_PHASES];
    double phase_rate[MAX_PHASES]; /* 0 = the tight loop */
};

static void *get_in_addr(struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        return &(((struct sockaddr_in *)sa)->sin_addr);
    }
    return &(((struct sockaddr_in6 *)sa)->sin6_addr);
}

/* Unchanged from the original, but for the unused destination address: on a
 * connected TCP socket the kernel ignores msg_name, and the original pointed it at
 * port 8000 on loopback. It is left in, as it was. */
static int send_sock_msg(int sock_fd) {
    struct sockaddr_in receiver_addr;
    char line[15] = "Hello World!";
    struct msghdr msg;
    struct iovec iov;

    memset(&receiver_addr, 0, sizeof(receiver_addr));
    receiver_addr.sin_family = AF_INET;
    receiver_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    receiver_addr.sin_port = htons(8000);

    msg.msg_name = &receiver_addr;
    msg.msg_namelen = sizeof(receiver_addr);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_iov->iov_base = line;
    msg.msg_iov->iov_len = 13;
    msg.msg_control = 0;
    msg.msg_controllen = 0;
    msg.msg_flags = 0;

    return sendmsg(sock_fd, &msg, 0);
}

static long long monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* DIFF: the rate of the phase that `since_ns` after the start falls in. */
static double rate_at(const struct options *o, long long since_ns) {
    long long t = since_ns / 1000000LL;
    for (int i = 0; i < o->nphases; i++) {
        if (t < o->phase_ms[i]) return o->phase_rate[i];
        t -= o->phase_ms[i];
    }
    return o->rate;
}

/* DIFF: waits until `due` (CLOCK_MONOTONIC ns). */
static void sleep_until(long long due) {
    long long wait = due - monotonic_ns();
    if (wait > 0) {
        struct timespec ts = { .tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL };
        nanosleep(&ts, NULL);
    }
}

static const char *policy_name(enum close_policy p) {
    switch (p) {
    case CLOSE_LINGER0: return "linger0";
    case CLOSE_SHUTDOWN_DRAIN: return "shutdown-drain";
    default: return "close";
    }
}

/* DIFF: the close policies. The default, CLOSE_PLAIN, is the original close(). */
static long long close_with_policy(int fd, const struct options *o, long long *drained) {
    *drained = 0;
    if (o->policy == CLOSE_LINGER0) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else if (o->policy == CLOSE_SHUTDOWN_DRAIN) {
        /* Send a FIN after the queued data, then read and discard the peer's
         * replies until it closes too; bounded by drain_timeout_ms. */
        char buf[65536];
        long long deadline = monotonic_ns() + (long long)o->drain_timeout_ms * 1000000LL;
        shutdown(fd, SHUT_WR);
        for (;;) {
            long long left_ms = (deadline - monotonic_ns()) / 1000000LL;
            if (left_ms <= 0) break;
            struct pollfd p = { .fd = fd, .events = POLLIN };
            int pr = poll(&p, 1, (int)left_ms);
            if (pr < 0 && errno == EINTR) continue;
            if (pr <= 0) break;
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n > 0) { *drained += n; continue; }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            break; /* EOF or error */
        }
    }
    close(fd);
    return monotonic_ns();
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: original [--port N] [--bind ADDR] [--sndbuf BYTES]\n"
            "                [--close-policy close|linger0|shutdown-drain]\n"
            "                [--log PATH] [--drain-timeout-ms N] [--rate MSGS_PER_S]\n"
            "                [--phase MS:MSGS_PER_S]...  (0 = the tight loop)\n");
}

static int parse_options(int argc, char **argv, struct options *o) {
    static const struct option longopts[] = {
        { "port", required_argument, 0, 'p' },
        { "bind", required_argument, 0, 'b' },
        { "sndbuf", required_argument, 0, 's' },
        { "close-policy", required_argument, 0, 'c' },
        { "log", required_argument, 0, 'l' },
        { "drain-timeout-ms", required_argument, 0, 'd' },
        { "rate", required_argument, 0, 'r' },
        { "phase", required_argument, 0, 'P' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    o->port = "8000";
    o->bind_host = NULL;
    o->sndbuf = 0;
    o->policy = CLOSE_PLAIN;
    o->log_path = NULL;
    o->drain_timeout_ms = 30000;
    o->rate = 0;
    o->nphases = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "p:b:s:c:l:d:r:P:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o->port = optarg; break;
        case 'b': o->bind_host = optarg; break;
        case 's': o->sndbuf = atoi(optarg); break;
        case 'l': o->log_path = optarg; break;
        case 'd': o->drain_timeout_ms = atoi(optarg); break;
        case 'r': o->rate = atof(optarg); break;
        case 'P': {
            long long ms;
            double r;
            if (o->nphases >= MAX_PHASES || sscanf(optarg, "%lld:%lf", &ms, &r) != 2 || ms <= 0 || r < 0) {
                fprintf(stderr, "bad --phase %s: MS:MSGS_PER_S, at most %d\n", optarg, MAX_PHASES);
                return -1;
            }
            o->phase_ms[o->nphases] = ms;
            o->phase_rate[o->nphases++] = r;
            break;
        }
        case 'c':
            if (strcmp(optarg, "close") == 0) o->policy = CLOSE_PLAIN;
            else if (strcmp(optarg, "linger0") == 0) o->policy = CLOSE_LINGER0;
            else if (strcmp(optarg, "shutdown-drain") == 0) o->policy = CLOSE_SHUTDOWN_DRAIN;
            else { fprintf(stderr, "unknown close policy: %s\n", optarg); return -1; }
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    return 0;
}

/* The forked child: the original send loop, then the close. */
static void serve_connection(int new_sd, const struct options *o) {
    long long count = 1;
    long long bytes_accepted = 0; /* DIFF: what send() really took, for the summary */
    long long partial = 0;        /* sends that took less than the 13-byte message */
    FILE *logfile = NULL;
    int send_errno = 0;
    long long eagain_ns = 0;

    /* DIFF: die with the listener, so a killed harness leaves no child behind. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    if (o->log_path != NULL) {
        logfile = fopen(o->log_path, "w");
        if (logfile == NULL) {
            perror("logfile open error");
        }
    }

    /*
     * Change the new client socket non-blocking.
     * This will simulate the server scenario by writing the send
     * buffer as much as it can, and returns -1 if it's full. At that
     * point the server resets the connection by closing the socket.
     */
    if ((fcntl(new_sd, F_SETFL, O_NONBLOCK)) < 0) {
        perror("fcntl");
    }
    if (o->sndbuf > 0) {
        setsockopt(new_sd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(o->sndbuf));
    }
    /* The kernel doubles SO_SNDBUF and clamps it to net.core.wmem_max: report
     * what it really gave, so nothing is lost silently. */
    int sndbuf_effective = 0;
    socklen_t sblen = sizeof(sndbuf_effective);
    getsockopt(new_sd, SOL_SOCKET, SO_SNDBUF, &sndbuf_effective, &sblen);

    /* DIFF: with --rate, message n is due n/rate seconds after the first: a sender
     * that falls behind catches up, so the average rate holds. Without it, the
     * original tight loop. */
    long long start_ns = monotonic_ns();
    /* DIFF: with --phase, each message is due 1/rate after the one before, at the
     * rate of the phase it falls in; in a tight-loop phase it is due at once. */
    long long next_due = start_ns;
    while (1) {
        int numbytes;
        if (o->nphases > 0) {
            double r = rate_at(o, next_due - start_ns);
            if (r > 0) {
                sleep_until(next_due);
                next_due += (long long)(1e9 / r);
            } else {
                next_due = monotonic_ns();
            }
        } else if (o->rate > 0) {
            sleep_until(start_ns + (long long)((double)(count - 1) * 1e9 / o->rate));
        }
        if ((numbytes = send_sock_msg(new_sd)) < 0) {
            send_errno = errno;
            eagain_ns = monotonic_ns();
            if (logfile) {
                /* DIFF: the errno is added to the original's line. */
                fprintf(logfile, "Kernel sending buffer is full."
                        "Closing the connection.: %lld %d errno=%d\n", count, numbytes,
                        send_errno);
            }
            break;
        }
        if (logfile) {
            fprintf(logfile, "Server sending the msg no: %lld %d\n", count, numbytes);
        }
        bytes_accepted += numbytes;
        if (numbytes < 13) partial++;
        count++;
    }
    long long drained = 0;
    /* On loopback the RST is delivered to the client inside close(), so the close is
     * stamped both when it starts and when it has returned. */
    long long close_start_ns = monotonic_ns();
    long long close_ns = close_with_policy(new_sd, o, &drained);
    if (logfile) fclose(logfile);

    /* DIFF: one machine-readable line for the harness. count-1 sends succeeded
     * before the failed one; a non-blocking send may take only part of a message
     * when the buffer is nearly full, so the bytes are summed, not multiplied. */
    printf("zerowin-summary pid=%d messages=%lld bytes=%lld partial=%lld errno=%d sndbuf=%d "
           "fail_ns=%lld close_start_ns=%lld close_ns=%lld policy=%s drained=%lld\n",
           (int)getpid(), count - 1, bytes_accepted, partial, send_errno, sndbuf_effective,
           eagain_ns, close_start_ns, close_ns, policy_name(o->policy), drained);
    fflush(stdout);
}

int main(int argc, char **argv) {
    int sd = -1, new_sd;
    int yes = 1;
    int rv;
    char s[INET6_ADDRSTRLEN];
    struct options o;
    struct addrinfo hints, *serverinfo, *p;
    struct sockaddr_storage their_addr; /* Connector's address info. */
    socklen_t sin_size;

    if (parse_options(argc, argv, &o) != 0) return 2;

    /* DIFF: a send to a peer that has gone is logged as EPIPE, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;

    if ((rv = getaddrinfo(o.bind_host, o.port, &hints, &serverinfo)) != 0) {
        fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rv));
        return 1;
    }

    /* Loop through the results and bind the first one we can. */
    for (p = serverinfo; p != NULL; p = p->ai_next) {
        if (p->ai_family != AF_INET) continue; /* the original made AF_INET sockets only */
        if ((sd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
            perror("server: socket");
            continue;
        }
        if ((fcntl(sd, F_SETFL, O_NONBLOCK)) < 0) {
            perror("fcntl");
        }
        if (setsockopt(sd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(int)) == -1) {
            perror("setsockopt");
            exit(1);
        }
        if (bind(sd, p->ai_addr, p->ai_addrlen) == -1) {
            close(sd);
            perror("server: bind");
            continue;
        }
        break;
    }

    if (p == NULL) {
        fprintf(stderr, "server: failed to bind \n");
        return 2;
    }
    freeaddrinfo(serverinfo); /* No need for it further. */

    if (listen(sd, MAX_LISTEN) == -1) {
        perror("listen");
        exit(1);
    }

    /* DIFF: print the bound port, so the harness can use port 0. */
    {
        struct sockaddr_in bound;
        socklen_t blen = sizeof(bound);
        getsockname(sd, (struct sockaddr *)&bound, &blen);
        printf("zerowin-port %d\n", ntohs(bound.sin_port));
    }
    printf("server: waiting for connections...\n");
    fflush(stdout);

    while (1) {
        /* DIFF: the original spun on the non-blocking accept(), printing
         * "accept ...: Resource temporarily unavailable" in a busy loop. On a
         * 2-core machine that loop takes a whole core from the client under test,
         * so wait in poll() until the listener is readable. The accept itself is
         * still non-blocking. Finished children are reaped here as well. */
        struct pollfd lp = { .fd = sd, .events = POLLIN };
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (poll(&lp, 1, 1000) <= 0) continue;

        sin_size = sizeof their_addr;
        new_sd = accept(sd, (struct sockaddr *)&their_addr, &sin_size);
        if (new_sd == -1) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) perror("accept ...");
            continue;
        }

        inet_ntop(their_addr.ss_family, get_in_addr((struct sockaddr *)&their_addr), s,
                  sizeof s);
        printf("server: got connection from %s \n", s);
        fflush(stdout);

        if (!fork()) { /* This is the child process. */
            close(sd); /* The child doesn't need the listener. */
            serve_connection(new_sd, &o);
            _exit(0);
        }
        close(new_sd); /* The parent doesn't need the child's socket. */
    }
    return 0;
}
