/* repcount board host-linux: the portable core as a Linux program.
 *
 * The serial link is a TCP socket (the default; a pyserial `socket://` URL reaches it, as
 * it reaches the emulator; the device starts, and sends BOOT, when the first client
 * connects) or a pseudo-terminal (--pty). The "IMU" plays a recording file
 * (docs/recording-format.md) at the IMU's rate times --speed; the LED and the count
 * screen are lines on stdout. The first line on stdout names the port to open:
 *
 *     serial: socket://127.0.0.1:40213
 *
 * Usage: repcount-device [--tcp PORT | --pty] [--imu FILE.rec] [--speed X]
 *   --tcp PORT   listen on 127.0.0.1:PORT (0, the default, picks a free port)
 *   --pty        create a pseudo-terminal instead and print its path
 *   --imu FILE   the recording the IMU plays, once (at its end the IMU reports an error)
 *   --speed X    play X times faster than real time (default 1; 0: as fast as the link)
 */
#define _DEFAULT_SOURCE
#define _XOPEN_SOURCE 600

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "rc_app.h"
#include "rc_config.h"

static int listen_fd = -1; /* TCP: the listening socket */
static int link_fd = -1;   /* TCP: the connected client; pty: the master side */
static int pty_slave = -1; /* kept open so the pty survives clients coming and going */
static uint8_t rx_buf[512];
static size_t rx_len, rx_pos;

/* IMU samples the board buffers: a slower app loses what is due beyond them (overruns). */
#define RC_HOST_IMU_QUEUE 256
static FILE *imu_file;
static const char *imu_path;
static double imu_scale; /* counts per unit of the file's acceleration */
static double speed = 1.0;
static double next_due_s;
static volatile sig_atomic_t stop;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double start_s;

static void accept_client(void);

uint32_t rc_board_millis(void)
{
    return (uint32_t)(uint64_t)((now_s() - start_s) * 1000.0);
}

void rc_board_led(int on)
{
    printf("led: %d\n", on ? 1 : 0);
}

void rc_board_show_count(uint32_t count)
{
    printf("count: %lu\n", (unsigned long)count);
}

static void drop_client(void)
{
    if (listen_fd >= 0 && link_fd >= 0) {
        close(link_fd);
        link_fd = -1;
    }
}

void rc_board_write(const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (link_fd >= 0 && done < len) {
        ssize_t n = listen_fd >= 0 ? send(link_fd, data + done, len - done, MSG_NOSIGNAL)
                                   : write(link_fd, data + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            /* TCP: wait for the client to read (a slow host must not lose data). A pty
             * nobody reads drops after 100 ms, as a UART with nothing attached. */
            struct pollfd p = {link_fd, POLLOUT, 0};
            int ready = poll(&p, 1, listen_fd >= 0 ? 1000 : 100);
            if (stop || (ready == 0 && listen_fd < 0)) {
                return;
            }
        } else {
            drop_client();
            return;
        }
    }
}

int rc_board_read_byte(uint8_t *byte)
{
    if (link_fd < 0 && listen_fd >= 0) {
        accept_client();
    }
    if (rx_pos == rx_len && link_fd >= 0) {
        ssize_t n = read(link_fd, rx_buf, sizeof rx_buf);
        rx_pos = 0;
        rx_len = n > 0 ? (size_t)n : 0;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EIO)) {
            drop_client();
        }
    }
    if (rx_pos == rx_len) {
        return 0;
    }
    *byte = rx_buf[rx_pos++];
    return 1;
}

/* The next data line of the recording as three accelerations; 0 at the end of the file. */
static int imu_next_line(double v[3])
{
    char line[512];
    while (fgets(line, sizeof line, imu_file) != NULL) {
        char *p = line, *end;
        int i;
        if (line[0] == '#' || line[0] == '@' || line[0] == 't' || line[0] == '\n') {
            if (strncmp(line, "# units:", 8) == 0) {
                const char *u = line + 8;
                while (*u == ' ') {
                    u++;
                }
                if (strncmp(u, "mg", 2) == 0) {
                    imu_scale *= 1e-3;
                } else if (strncmp(u, "m/s", 3) == 0) {
                    imu_scale /= 9.80665;
                }
            }
            continue;
        }
        strtod(p, &end); /* t */
        for (i = 0; i < 3; i++) {
            if (*end != ',') {
                break;
            }
            p = end + 1;
            v[i] = strtod(p, &end);
        }
        if (i == 3) {
            return 1;
        }
        fprintf(stderr, "repcount-device: %s: skipping a line that is not t,ax,ay,az: %s", imu_path, line);
    }
    return 0;
}

int rc_board_imu_read(int16_t xyz[3])
{
    double v[3];
    double now = now_s();
    int i;
    if (imu_file == NULL) {
        return -1;
    }
    if (speed > 0.0) {
        double period = 1.0 / (RC_IMU_ODR_HZ * speed);
        uint32_t lost = 0;
        if (now < next_due_s) {
            return 0;
        }
        /* The IMU does not wait: samples due beyond what a board's queue holds
         * (RC_HOST_IMU_QUEUE, as the Arduino boards') are lost, and reported as overruns. */
        for (; now - next_due_s > RC_HOST_IMU_QUEUE * period && imu_next_line(v); lost++) {
            next_due_s += period;
        }
        if (lost > 0) {
            rc_app_imu_overrun(lost);
        }
        next_due_s += period;
    }
    if (!imu_next_line(v)) {
        return -2;
    }
    for (i = 0; i < 3; i++) {
        double c = nearbyint(v[i] * imu_scale);
        xyz[i] = (int16_t)(c > 32767.0 ? 32767 : c < -32768.0 ? -32768 : c);
    }
    return 1;
}

static int open_tcp(int port)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    int one = 1;
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0) {
        return -1;
    }
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listen_fd, 1) != 0
        || getsockname(listen_fd, (struct sockaddr *)&addr, &alen) != 0) {
        return -1;
    }
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    printf("serial: socket://127.0.0.1:%d\n", ntohs(addr.sin_port));
    return 0;
}

static void accept_client(void)
{
    int one = 1;
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    if (link_fd >= 0) {
        close(link_fd); /* a new client replaces the old one, as a re-opened serial port */
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    link_fd = fd;
    rx_len = rx_pos = 0;
}

static int open_pty(void)
{
    struct termios tio;
    const char *name;
    link_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (link_fd < 0 || grantpt(link_fd) != 0 || unlockpt(link_fd) != 0 || (name = ptsname(link_fd)) == NULL) {
        return -1;
    }
    pty_slave = open(name, O_RDWR | O_NOCTTY);
    if (pty_slave < 0 || tcgetattr(pty_slave, &tio) != 0) {
        return -1;
    }
    cfmakeraw(&tio);
    tcsetattr(pty_slave, TCSANOW, &tio);
    fcntl(link_fd, F_SETFL, fcntl(link_fd, F_GETFL) | O_NONBLOCK);
    printf("serial: %s\n", name);
    return 0;
}

/* Sleep until a byte arrives, a client connects or the next IMU sample is due. */
static void wait_for_work(void)
{
    struct pollfd fds[2];
    int n = 0, timeout_ms = 50;
    if (imu_file != NULL && speed > 0.0) {
        double wait = (next_due_s - now_s()) * 1000.0;
        timeout_ms = wait < 0.0 ? 0 : wait > 50.0 ? 50 : (int)ceil(wait);
    }
    if (listen_fd >= 0) {
        fds[n].fd = listen_fd;
        fds[n++].events = POLLIN;
    }
    if (link_fd >= 0) {
        fds[n].fd = link_fd;
        fds[n++].events = POLLIN;
    }
    if (poll(fds, (nfds_t)n, timeout_ms) > 0 && listen_fd >= 0 && (fds[0].revents & POLLIN)) {
        accept_client();
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int usage(const char *why)
{
    fprintf(stderr, "repcount-device: %s\nusage: repcount-device [--tcp PORT | --pty] [--imu FILE.rec] "
                    "[--speed X]\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    int i, port = 0, use_pty = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pty") == 0) {
            use_pty = 1;
        } else if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--imu") == 0 && i + 1 < argc) {
            imu_path = argv[++i];
        } else if (strcmp(argv[i], "--speed") == 0 && i + 1 < argc) {
            speed = atof(argv[++i]);
        } else {
            return usage("unknown or incomplete option");
        }
    }
    if (imu_path != NULL && (imu_file = fopen(imu_path, "r")) == NULL) {
        fprintf(stderr, "repcount-device: cannot open the IMU recording %s: %s\n", imu_path, strerror(errno));
        return 2;
    }
    imu_scale = 32768.0 / RC_IMU_FULL_SCALE_G;
    if ((use_pty ? open_pty() : open_tcp(port)) != 0) {
        fprintf(stderr, "repcount-device: cannot open the serial link: %s\n", strerror(errno));
        return 1;
    }
    /* TCP: boot when the first client connects, as a USB board powers up when plugged in,
     * so the client sees the BOOT frame. */
    while (listen_fd >= 0 && link_fd < 0 && !stop) {
        struct pollfd p = {listen_fd, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            accept_client();
        }
    }
    start_s = now_s();
    next_due_s = start_s;
    rc_app_init();
    while (!stop) {
        if (!rc_app_imu_active()) {
            next_due_s = now_s(); /* outside capture and run nothing queues: the IMU's clock follows */
        }
        if (!rc_app_poll()) {
            wait_for_work();
        }
    }
    return 0;
}
